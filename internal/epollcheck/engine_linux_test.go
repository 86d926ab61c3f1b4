package epollcheck

import (
	"context"
	"net"
	"net/netip"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rawprobe/rawprobe/internal/verify/loopback"

	"go.uber.org/goleak"
	"golang.org/x/sys/unix"
)

// runningOf returns the running state of e.
func runningOf(t testing.TB, e *Engine) *running {
	t.Helper()
	r := e.cur.Load()
	if r == nil {
		t.Fatal("engine not running")
	}
	return r
}

// TestStaleEventIgnored proves that an event carrying an earlier
// generation of a slot cannot complete the check now using that slot, even
// though the kernel gave the new check's socket the same fd number; and,
// as the control, that an event with the current generation does.
func TestStaleEventIgnored(t *testing.T) {
	c := New()
	c.shards = 1
	runServe(t, c)
	s := runningOf(t, c).shards[0]
	silent := loopback.SilentListener(t, "tcp4")

	// First check: times out; remember its slot, generation and fd.
	if o := checkAddr(c, silent, 50*time.Millisecond); o.Kind != Timeout {
		t.Fatalf("first check: got %+v, want Timeout", o)
	}
	sl := s.slots.get(0)
	oldGen, oldFd := uint32(sl.state.Load()>>32), sl.fd

	// Second check on the same slot (the only free one) and, the kernel
	// reusing the lowest free fd, most likely the same fd number.
	result := make(chan Outcome, 1)
	go func() { result <- checkAddr(c, silent, 3*time.Second) }()
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
	case o := <-result:
		t.Fatalf("stale event delivered a result to the new check: %+v", o)
	case <-time.After(100 * time.Millisecond):
	}
	// Control: the same event with the current generation completes it.
	sl2, res, ok := s.complete(0, oldGen+1, unix.EPOLLOUT)
	if !ok || sl2 != sl {
		t.Fatal("complete refused the event of the current generation")
	}
	s.deliver(sl2, res)
	select {
	case o := <-result:
		if o.Kind != Open {
			t.Fatalf("current-generation event: got %+v, want Open (EPOLLOUT)", o)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("current-generation event did not complete the check")
	}
}

// TestConcurrentMixedLoopback runs 3,000 concurrent checks, a third each
// to an open, a closed and a silent loopback port, and checks every one
// gets its own target's result.
func TestConcurrentMixedLoopback(t *testing.T) {
	c := startedEngine(t)
	open := loopback.Listen(t, "tcp4").Addr().String()
	closed := loopback.ClosedPort(t, "tcp4")
	silent := loopback.SilentListener(t, "tcp4")
	runMixed(t, c, 3000, open, closed, silent, 500*time.Millisecond)
}

// runMixed runs n concurrent checks spread over the three targets and
// fails t for every wrong result. Checks of the silent target use timeout;
// the others a generous 10 s, so that a slow machine cannot turn their
// answers into timeouts.
func runMixed(t *testing.T, c *Engine, n int, open, closed, silent string, timeout time.Duration) {
	t.Helper()
	type outcome struct {
		kind int
		o    Outcome
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
			results <- outcome{i % 3, checkAddr(c, addr, d)}
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
			ok = r.o == Outcome{Kind: Open}
		case 1:
			ok = r.o == Outcome{Kind: Refused, Errno: syscall.ECONNREFUSED}
		case 2:
			ok = r.o == Outcome{Kind: Timeout}
		}
		if !ok {
			if wrong[r.kind] < 3 {
				t.Errorf("%s check: got %+v", [...]string{"open", "closed", "silent"}[r.kind], r.o)
			}
			wrong[r.kind]++
		}
	}
	if wrong != [3]int{} {
		t.Errorf("wrong results (open, closed, silent): %v of %v", wrong, counts)
	}
}

// TestAllocsPerCheck: a check allocates nothing in steady state, for an
// open port and for a closed one (Outcome is a plain value).
func TestAllocsPerCheck(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under the race detector")
	}
	c := startedEngine(t)
	for _, tc := range []struct {
		name   string
		target netip.AddrPort
		want   Kind
	}{
		{"open", loopback.Listen(t, "tcp4").Addr().(*net.TCPAddr).AddrPort(), Open},
		{"closed", netip.MustParseAddrPort(loopback.ClosedPort(t, "tcp4")), Refused},
	} {
		var failed Outcome
		allocs := testing.AllocsPerRun(2000, func() {
			if o := c.Check(tc.target, time.Now().Add(2*time.Second), true); o.Kind != tc.want {
				failed = o
			}
		})
		if failed.Kind != 0 {
			t.Fatalf("%s port: %+v, want %v", tc.name, failed, tc.want)
		}
		if allocs != 0 {
			t.Errorf("%.2f allocations per %s-port check, want 0", allocs, tc.name)
		}
	}
}

// TestNoLeaksAfterStop: fds and goroutines are back to their baseline
// once the loop stops, after checks of every kind.
func TestNoLeaksAfterStop(t *testing.T) {
	open := loopback.Listen(t, "tcp4").Addr().String()
	closed := loopback.ClosedPort(t, "tcp4")
	silent := loopback.SilentListener(t, "tcp4")
	ignore := goleak.IgnoreCurrent()
	baseFds := loopback.FdCount(t)
	leakRun(t, 3000, open, closed, silent)
	if got := loopback.FdCount(t); got != baseFds {
		t.Errorf("fds: %d after the loop stopped, %d before", got, baseFds)
	}
	goleak.VerifyNone(t, ignore)
}

// leakRun starts an Engine, runs n checks from 100 goroutines (most to
// open, some closed and silent), stops it and waits for Serve to return.
func leakRun(t *testing.T, n int, open, closed, silent string) {
	t.Helper()
	c := New()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan struct{})
	ended := make(chan error, 1)
	go func() { ended <- c.Serve(ctx, func(int) { close(ready) }) }()
	<-ready
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
				o := checkAddr(c, addr, timeout)
				if addr == open && o.Kind != Open {
					mu.Lock()
					if bad++; bad < 3 {
						t.Errorf("open check: %+v", o)
					}
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	cancel()
	if err := <-ended; err != nil {
		t.Errorf("Serve: %v", err)
	}
}

// TestLoadNoLeaks100k: the same after 100,000 checks.
func TestLoadNoLeaks100k(t *testing.T) {
	if testing.Short() {
		t.Skip("load test: runs in make test's second pass without -race")
	}
	open := loopback.Listen(t, "tcp4").Addr().String()
	closed := loopback.ClosedPort(t, "tcp4")
	silent := loopback.SilentListener(t, "tcp4")
	ignore := goleak.IgnoreCurrent()
	baseFds := loopback.FdCount(t)
	leakRun(t, 100_000, open, closed, silent)
	if got := loopback.FdCount(t); got != baseFds {
		t.Errorf("fds: %d after 100,000 checks and the loop's stop, %d before", got, baseFds)
	}
	goleak.VerifyNone(t, ignore)
}
