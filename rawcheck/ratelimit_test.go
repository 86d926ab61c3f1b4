package rawcheck

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestSendLimiter(t *testing.T) {
	if newSendLimiter(0, 256).wait(context.Background(), nil, 1_000_000) != nil {
		t.Fatal("no rate, but the limiter waited")
	}
	l := newSendLimiter(1000, 256) // burst: one batch
	start := time.Now()
	if err := l.wait(context.Background(), nil, 256+100); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 95*time.Millisecond {
		t.Errorf("a batch beyond the burst took %v, want >= 100ms at 1000/s", d)
	}
	done := make(chan struct{})
	close(done)
	if err := l.wait(context.Background(), done, 100); !errors.Is(err, ErrClosed) {
		t.Errorf("wait on a closed engine = %v, want ErrClosed", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if err := l.wait(ctx, nil, 100); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("wait for a slot after the deadline = %v, want a deadline error", err)
	}
}
