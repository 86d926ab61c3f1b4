package compat

import (
	"errors"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rawprobe/rawprobe/internal/verify/loopback"
)

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

// TestConcurrentMixedLoopback runs 3,000 concurrent checks through
// CheckAddr, a third each to an open, a closed and a silent loopback port,
// and checks every one gets its own target's result.
func TestConcurrentMixedLoopback(t *testing.T) {
	c := startedChecker(t)
	open := loopback.Listen(t, "tcp4").Addr().String()
	closed := loopback.ClosedPort(t, "tcp4")
	silent := loopback.SilentListener(t, "tcp4")
	runMixed(t, c, 3000, open, closed, silent, 500*time.Millisecond)
}

// TestAllocsPerCheck: CheckAddr of an IP literal allocates nothing (open
// port) in steady state.
func TestAllocsPerCheck(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under the race detector")
	}
	c := startedChecker(t)
	addr := loopback.Listen(t, "tcp4").Addr().String()
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
	closed := loopback.ClosedPort(t, "tcp4")
	allocs = testing.AllocsPerRun(500, func() { c.CheckAddr(closed, 2*time.Second) })
	t.Logf("allocations per closed-port check (the *ErrConnect): %.2f", allocs)
}

func TestDefaultChecker(t *testing.T) {
	c := DefaultChecker()
	if c != DefaultChecker() {
		t.Fatal("DefaultChecker returned two different Checkers")
	}
	if !c.IsReady() {
		t.Fatal("DefaultChecker is not ready")
	}
	l := loopback.Listen(t, "tcp4")
	if err := c.CheckAddr(l.Addr().String(), 2*time.Second); err != nil {
		t.Errorf("open port through DefaultChecker: %v", err)
	}
}
