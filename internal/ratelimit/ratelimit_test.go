package ratelimit

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

func TestNilNeverWaits(t *testing.T) {
	var l *Limiter
	if New(0, 10) != nil {
		t.Fatal("New(0) is not nil")
	}
	if err := l.Wait(context.Background(), nil, 1_000_000); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := l.Wait(ctx, nil, 1); !errors.Is(err, context.Canceled) {
		t.Errorf("nil limiter, cancelled ctx: %v", err)
	}
}

// TestPaces: after the burst, events are spaced 1/rate apart (lower bound
// only: a loaded machine may be slower, never faster).
func TestPaces(t *testing.T) {
	l := New(1000, 1)
	start := time.Now()
	for range 21 {
		if err := l.Wait(context.Background(), nil, 1); err != nil {
			t.Fatal(err)
		}
	}
	if d := time.Since(start); d < 19*time.Millisecond {
		t.Errorf("21 events at 1000/s with burst 1 took %v, want >= 20ms", d)
	}
}

// TestLargerThanBurst: a take of more tokens than the burst is served in
// burst-sized parts, not refused.
func TestLargerThanBurst(t *testing.T) {
	l := New(10000, 10)
	start := time.Now()
	if err := l.Wait(context.Background(), nil, 110); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 9*time.Millisecond {
		t.Errorf("110 tokens at 10000/s with burst 10 took %v, want >= 10ms", d)
	}
}

// TestDeadlineFailsAtOnce: a slot after the deadline is refused at once,
// as a deadline error, and takes nothing from the bucket.
func TestDeadlineFailsAtOnce(t *testing.T) {
	l := New(1, 1)
	if err := l.Wait(context.Background(), nil, 1); err != nil { // the burst
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := l.Wait(ctx, nil, 1)
	if !errors.Is(err, ErrDeadline) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Wait with the next slot 1s away and a 100ms deadline = %v, want ErrDeadline", err)
	}
	if d := time.Since(start); d > 50*time.Millisecond {
		t.Errorf("the refusal took %v; it should not wait for the deadline", d)
	}
}

// TestAbandonedWaitsLeaveNoDebt is the exporter's false-down case: many
// waits abandoned before their slot must give their tokens back, so that
// the next caller is served as if they had never asked.
func TestAbandonedWaitsLeaveNoDebt(t *testing.T) {
	l := New(10, 1)
	if err := l.Wait(context.Background(), nil, 1); err != nil { // the burst
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 400 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Cancelled, not timed out: no deadline check can refuse
			// these at once, so each one really waits.
			ctx, cancel := context.WithCancel(context.Background())
			time.AfterFunc(20*time.Millisecond, cancel)
			if err := l.Wait(ctx, nil, 1); err == nil {
				t.Error("an abandoned wait was served")
			}
		}()
	}
	wg.Wait()
	// Without the refunds the bucket would owe 400 tokens: 40 s at 10/s.
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := l.Wait(ctx, nil, 1); err != nil {
		t.Fatalf("after 400 abandoned waits, a wait with 1s to spare: %v", err)
	}
}

// TestNegativeControlDebt: the same abandoned waits made directly on
// rate.Limiter (WaitN, which cancels its reservation) leave the debt that
// TestAbandonedWaitsLeaveNoDebt checks is gone: the next wait with 1s to
// spare is refused. So that test can fail, and the turn queue is what
// makes it pass.
func TestNegativeControlDebt(t *testing.T) {
	l := New(10, 1)
	l.lim.Allow() // the burst
	var wg sync.WaitGroup
	for range 400 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithCancel(context.Background())
			time.AfterFunc(20*time.Millisecond, cancel)
			l.lim.WaitN(ctx, 1)
		}()
	}
	wg.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := l.Wait(ctx, nil, 1); !errors.Is(err, ErrDeadline) {
		t.Fatalf("after 400 waits cancelled on rate.Limiter itself, a 1s wait = %v; want ErrDeadline (debt left)", err)
	}
}

func TestDoneEndsWait(t *testing.T) {
	l := New(1, 1)
	l.Wait(context.Background(), nil, 1)
	done := make(chan struct{})
	time.AfterFunc(10*time.Millisecond, func() { close(done) })
	if err := l.Wait(context.Background(), done, 1); !errors.Is(err, ErrDone) {
		t.Errorf("Wait ended by done = %v, want ErrDone", err)
	}
}

func TestNoAllocsWithoutWaiting(t *testing.T) {
	l := New(1e9, 1e6)
	ctx := context.Background()
	if n := testing.AllocsPerRun(1000, func() { l.Wait(ctx, nil, 1) }); n != 0 {
		t.Errorf("Wait without sleeping allocates %v times", n)
	}
}
