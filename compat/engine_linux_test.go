package compat

import (
	"context"
	"errors"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
	"golang.org/x/sys/unix"
)

// engineOf returns the running epoll engine of c.
func engineOf(t testing.TB, c *Checker) *epollEngine {
	t.Helper()
	b, ok := c.engine.(*epollBackend)
	if !ok {
		t.Fatalf("engine is %T, want *epollBackend", c.engine)
	}
	e := b.cur.Load()
	if e == nil {
		t.Fatal("engine not running")
	}
	return e
}

// TestStaleEventIgnored proves that an event carrying an earlier
// generation of a slot cannot complete the check now using that slot, even
// though the kernel gave the new check's socket the same fd number; and,
// as the control, that an event with the current generation does.
func TestStaleEventIgnored(t *testing.T) {
	c := NewChecker()
	c.engine.(*epollBackend).shards = 1
	runLoop(t, c)
	s := engineOf(t, c).shards[0]
	silent := silentListener(t, "tcp4")

	// First check: times out; remember its slot, generation and fd.
	if err := c.CheckAddr(silent, 50*time.Millisecond); err != ErrTimeout {
		t.Fatalf("first check: got %v, want ErrTimeout", err)
	}
	sl := s.slots.get(0)
	oldGen, oldFd := uint32(sl.state.Load()>>32), sl.fd

	// Second check on the same slot (the only free one) and, the kernel
	// reusing the lowest free fd, most likely the same fd number.
	result := make(chan error, 1)
	go func() { result <- c.CheckAddr(silent, 3*time.Second) }()
	deadline := time.Now().Add(2 * time.Second)
	for uint32(sl.state.Load()) != phaseArmed && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	st := sl.state.Load()
	if uint32(st) != phaseArmed || uint32(st>>32) != oldGen+1 {
		t.Fatalf("second check not armed on slot 0 with generation %d: state %#x", oldGen+1, st)
	}
	t.Logf("slot 0: generation %d fd %d, then generation %d fd %d", oldGen, oldFd, oldGen+1, sl.fd)

	// A stale error event for the first use must change nothing.
	if _, _, ok := s.complete(0, oldGen, unix.EPOLLERR|unix.EPOLLHUP); ok {
		t.Fatal("complete accepted an event of the previous generation")
	}
	select {
	case err := <-result:
		t.Fatalf("stale event delivered a result to the new check: %v", err)
	case <-time.After(100 * time.Millisecond):
	}
	// Control: the same event with the current generation completes it.
	sl2, res, ok := s.complete(0, oldGen+1, unix.EPOLLOUT)
	if !ok || sl2 != sl {
		t.Fatal("complete refused the event of the current generation")
	}
	s.deliver(sl2, res)
	select {
	case err := <-result:
		if err != nil {
			t.Fatalf("current-generation event: got %v, want nil (EPOLLOUT)", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("current-generation event did not complete the check")
	}
}

// TestConcurrentMixedLoopback runs 3,000 concurrent checks, a third each
// to an open, a closed and a silent loopback port, and checks every one
// gets its own target's result.
func TestConcurrentMixedLoopback(t *testing.T) {
	c := startedChecker(t)
	open := listenOpen(t, "tcp4").Addr().String()
	closed := closedPort(t, "tcp4")
	silent := silentListener(t, "tcp4")
	runMixed(t, c, 3000, open, closed, silent, 500*time.Millisecond)
}

// runMixed runs n concurrent checks spread over the three targets and
// fails t for every wrong result. Checks of the silent target use timeout;
// the others a generous 10 s, so that a slow machine cannot turn their
// answers into timeouts.
func runMixed(t *testing.T, c *Checker, n int, open, closed, silent string, timeout time.Duration) {
	t.Helper()
	type outcome struct {
		kind int
		err  error
	}
	results := make(chan outcome, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			addr := [...]string{open, closed, silent}[i%3]
			d := 10 * time.Second
			if i%3 == 2 {
				d = timeout
			}
			results <- outcome{i % 3, c.CheckAddr(addr, d)}
		}()
	}
	close(start)
	wg.Wait()
	close(results)
	var wrong, counts [3]int
	for r := range results {
		counts[r.kind]++
		ok := false
		switch r.kind {
		case 0:
			ok = r.err == nil
		case 1:
			ok = errors.Is(r.err, syscall.ECONNREFUSED)
		case 2:
			ok = r.err == ErrTimeout
		}
		if !ok {
			if wrong[r.kind] < 3 {
				t.Errorf("%s check: got %v", [...]string{"open", "closed", "silent"}[r.kind], r.err)
			}
			wrong[r.kind]++
		}
	}
	if wrong != [3]int{} {
		t.Errorf("wrong results (open, closed, silent): %v of %v", wrong, counts)
	}
}

// TestAllocsPerCheck: checking an IP literal allocates nothing (open
// port) in steady state.
func TestAllocsPerCheck(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under the race detector")
	}
	c := startedChecker(t)
	addr := listenOpen(t, "tcp4").Addr().String()
	var failed error
	allocs := testing.AllocsPerRun(2000, func() {
		if err := c.CheckAddr(addr, 2*time.Second); err != nil {
			failed = err
		}
	})
	if failed != nil {
		t.Fatal(failed)
	}
	if allocs != 0 {
		t.Errorf("%.2f allocations per open check, want 0", allocs)
	}
	closed := closedPort(t, "tcp4")
	allocs = testing.AllocsPerRun(500, func() { c.CheckAddr(closed, 2*time.Second) })
	t.Logf("allocations per closed-port check (the *ErrConnect): %.2f", allocs)
}

// TestNoLeaksAfterStop: fds and goroutines are back to their baseline
// once the loop stops, after checks of every kind.
func TestNoLeaksAfterStop(t *testing.T) {
	open := listenOpen(t, "tcp4").Addr().String()
	closed := closedPort(t, "tcp4")
	silent := silentListener(t, "tcp4")
	ignore := goleak.IgnoreCurrent()
	baseFds := fdCount(t)
	leakRun(t, 3000, open, closed, silent)
	if got := fdCount(t); got != baseFds {
		t.Errorf("fds: %d after the loop stopped, %d before", got, baseFds)
	}
	goleak.VerifyNone(t, ignore)
}

// leakRun starts a Checker, runs n checks from 100 goroutines (most to
// open, some closed and silent), stops the loop and waits for it.
func leakRun(t *testing.T, n int, open, closed, silent string) {
	t.Helper()
	c := NewChecker()
	ctx, cancel := context.WithCancel(context.Background())
	ended := make(chan error, 1)
	go func() { ended <- c.CheckingLoop(ctx) }()
	<-c.WaitReady()
	var wg sync.WaitGroup
	var mu sync.Mutex
	bad := 0
	per := n / 100
	for w := range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range per {
				addr, timeout := open, 2*time.Second
				switch {
				case i%50 == 1:
					addr = closed
				case i%500 == 2 && w%10 == 0:
					addr, timeout = silent, 20*time.Millisecond
				}
				err := c.CheckAddr(addr, timeout)
				if addr == open && err != nil {
					mu.Lock()
					if bad++; bad < 3 {
						t.Errorf("open check: %v", err)
					}
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	cancel()
	if err := <-ended; err != nil {
		t.Errorf("CheckingLoop: %v", err)
	}
}

// TestLoadNoLeaks100k: the same after 100,000 checks.
func TestLoadNoLeaks100k(t *testing.T) {
	if testing.Short() {
		t.Skip("load test: runs in make test's second pass without -race")
	}
	open := listenOpen(t, "tcp4").Addr().String()
	closed := closedPort(t, "tcp4")
	silent := silentListener(t, "tcp4")
	ignore := goleak.IgnoreCurrent()
	baseFds := fdCount(t)
	leakRun(t, 100_000, open, closed, silent)
	if got := fdCount(t); got != baseFds {
		t.Errorf("fds: %d after 100,000 checks and the loop's stop, %d before", got, baseFds)
	}
	goleak.VerifyNone(t, ignore)
}

func TestDefaultChecker(t *testing.T) {
	c := DefaultChecker()
	if c != DefaultChecker() {
		t.Fatal("DefaultChecker returned two different Checkers")
	}
	if !c.IsReady() {
		t.Fatal("DefaultChecker is not ready")
	}
	l := listenOpen(t, "tcp4")
	if err := c.CheckAddr(l.Addr().String(), 2*time.Second); err != nil {
		t.Errorf("open port through DefaultChecker: %v", err)
	}
}
