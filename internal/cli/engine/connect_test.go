package engine

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/rawprobe/rawprobe/internal/epollcheck"
	"github.com/rawprobe/rawprobe/rawcheck"
)

// fakeChecker answers by the last octet of the address: 1 open, 2
// refused, 3 silent, 4 unreachable (EHOSTUNREACH), 5 a local failure, 6 no
// route (ENETUNREACH at once), 7 unreachable with ENETUNREACH (an ICMP
// error after the SYN left); it records concurrency and checks asked
// without zero linger.
type fakeChecker struct {
	inFlight, maxInFlight atomic.Int64
	calls, lingering      atomic.Int64
}

func (f *fakeChecker) Check(target netip.AddrPort, deadline time.Time, zeroLinger bool) epollcheck.Outcome {
	f.calls.Add(1)
	if !zeroLinger {
		f.lingering.Add(1)
	}
	n := f.inFlight.Add(1)
	defer f.inFlight.Add(-1)
	for {
		m := f.maxInFlight.Load()
		if n <= m || f.maxInFlight.CompareAndSwap(m, n) {
			break
		}
	}
	time.Sleep(time.Millisecond)
	switch target.Addr().As4()[3] {
	case 1:
		return epollcheck.Outcome{Kind: epollcheck.Open}
	case 2:
		return epollcheck.Outcome{Kind: epollcheck.Refused, Errno: syscall.ECONNREFUSED}
	case 3:
		return epollcheck.Outcome{Kind: epollcheck.Timeout}
	case 4:
		return epollcheck.Outcome{Kind: epollcheck.Unreachable, Errno: syscall.EHOSTUNREACH}
	case 6:
		return epollcheck.Outcome{Kind: epollcheck.NoRoute, Errno: syscall.ENETUNREACH}
	case 7:
		return epollcheck.Outcome{Kind: epollcheck.Unreachable, Errno: syscall.ENETUNREACH}
	}
	return epollcheck.Outcome{Kind: epollcheck.LocalError, Err: errors.New("too many open files")}
}

// hasFakeRoute reports whether the fake network has a route to t: every
// address but those ending in 6.
func hasFakeRoute(t netip.AddrPort) bool { return t.Addr().As4()[3] != 6 }

func ap(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }

func TestConnectProbe(t *testing.T) {
	f := &fakeChecker{}
	e := newConnect(f, func() error { return nil }, Config{Attempts: 3, Timeout: time.Second})
	for _, tc := range []struct {
		target   string
		state    rawcheck.State
		attempts int
	}{
		{"198.18.0.1:80", rawcheck.Open, 1},
		{"198.18.0.2:80", rawcheck.Closed, 1},
		{"198.18.0.3:80", rawcheck.Timeout, 3},
		{"198.18.0.4:80", rawcheck.Unreachable, 1},
	} {
		res, err := e.Probe(context.Background(), ap(tc.target))
		if err != nil || res.State != tc.state || res.Attempts != tc.attempts || res.Target != ap(tc.target) {
			t.Errorf("%s: %+v, %v; want %v after %d attempts", tc.target, res, err, tc.state, tc.attempts)
		}
		if (res.State == rawcheck.Timeout) != (res.RTT == 0) {
			t.Errorf("%s: RTT %v with state %v", tc.target, res.RTT, res.State)
		}
	}
	if _, err := e.Probe(context.Background(), ap("198.18.0.5:80")); err == nil {
		t.Error("a local failure was not reported")
	}
	if n := f.lingering.Load(); n != 0 {
		t.Errorf("%d checks asked without zero linger", n)
	}
	st := e.Stats()
	if st.Sent != 7 || st.Retransmitted != 2 || st.Received != 3 || st.Open != 1 || st.Closed != 1 || st.Unreachable != 1 || st.Timeouts != 1 {
		t.Errorf("Stats = %+v", st)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := e.Probe(ctx, ap("198.18.0.3:80")); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled probe: %v", err)
	}
}

// TestConnectNoRoute: a target whose connect() fails at once for want of a
// route (a NoRoute outcome) gets the no-route result (State NoRoute, no
// attempt, no RTT, no error), counted in NoRoute only, not as sent or
// unreachable; a Scan goes on past it. Control: the same errno from a
// target that has a route (an ICMP error after the SYN left, an
// Unreachable outcome) stays an ordinary unreachable with its attempt.
func TestConnectNoRoute(t *testing.T) {
	f := &fakeChecker{}
	e := newConnect(f, func() error { return nil }, Config{Attempts: 3, Timeout: time.Second})
	res, err := e.Probe(context.Background(), ap("198.18.0.6:80"))
	if want := (rawcheck.Result{Target: ap("198.18.0.6:80"), State: rawcheck.NoRoute}); err != nil || res != want {
		t.Errorf("no route: %+v, %v; want %+v, nil", res, err, want)
	}
	if st := e.Stats(); st.NoRoute != 1 || st.Unreachable != 0 || st.Sent != 0 || st.Received != 0 {
		t.Errorf("no route: Stats = %+v; want 1 no-route, nothing unreachable, sent or received", st)
	}
	res, err = e.Probe(context.Background(), ap("198.18.0.7:80"))
	if err != nil || res.State != rawcheck.Unreachable || res.Attempts != 1 || res.RTT <= 0 {
		t.Errorf("ENETUNREACH with a route: %+v, %v; want unreachable after 1 attempt with an RTT", res, err)
	}
	if st := e.Stats(); st.NoRoute != 1 || st.Sent != 1 || st.Unreachable != 1 {
		t.Errorf("ENETUNREACH with a route: Stats = %+v; want still 1 no-route, 1 sent, 1 unreachable", st)
	}

	e = newConnect(&fakeChecker{}, func() error { return nil }, Config{Window: 2})
	targets := []netip.AddrPort{ap("198.18.0.1:80"), ap("198.18.0.6:80"), ap("198.18.0.2:80"), ap("198.18.1.6:80"), ap("198.18.0.4:80")}
	got := map[netip.AddrPort]rawcheck.Result{}
	if err := e.Scan(context.Background(), slices.Values(targets), func(r rawcheck.Result) { got[r.Target] = r }); err != nil {
		t.Fatalf("Scan: %v; want every target probed", err)
	}
	for tg, want := range map[netip.AddrPort]rawcheck.State{
		targets[0]: rawcheck.Open, targets[1]: rawcheck.NoRoute, targets[2]: rawcheck.Closed,
		targets[3]: rawcheck.NoRoute, targets[4]: rawcheck.Unreachable,
	} {
		r, ok := got[tg]
		noRoute := !hasFakeRoute(tg)
		if !ok || r.State != want || (r.Attempts == 0) != noRoute {
			t.Errorf("Scan: %v: %+v (reported %v); want %v, attempts 0 only without a route", tg, r, ok, want)
		}
	}
	if st := e.Stats(); len(got) != len(targets) || st.NoRoute != 2 || st.Sent != 3 || st.Unreachable != 1 {
		t.Errorf("Scan: %d results, Stats = %+v; want %d, 2 no-route, 3 sent, 1 unreachable", len(got), st, len(targets))
	}
}

func TestConnectScan(t *testing.T) {
	f := &fakeChecker{}
	e := newConnect(f, func() error { return nil }, Config{Window: 8, Attempts: 1})
	var targets []netip.AddrPort
	for port := 1; port <= 300; port++ {
		targets = append(targets, netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 18, 0, byte(1 + port%4)}), uint16(port)))
	}
	seen := map[netip.AddrPort]int{} // written from yield without a lock: -race checks serialisation
	err := e.Scan(context.Background(), slices.Values(targets), func(r rawcheck.Result) { seen[r.Target]++ })
	if err != nil {
		t.Fatal(err)
	}
	if len(seen) != len(targets) {
		t.Errorf("%d results for %d targets", len(seen), len(targets))
	}
	for _, tg := range targets {
		if seen[tg] != 1 {
			t.Errorf("%v reported %d times", tg, seen[tg])
		}
	}
	if m := f.maxInFlight.Load(); m > 8 || m < 2 {
		t.Errorf("max in flight %d, want 2..8 (window 8)", m)
	}

	// A local failure stops the scan and names the target.
	f = &fakeChecker{}
	e = newConnect(f, func() error { return nil }, Config{Window: 4})
	n := 0
	err = e.Scan(context.Background(), func(yield func(netip.AddrPort) bool) {
		for i := 0; i < 1000; i++ {
			last := byte(1)
			if i == 10 {
				last = 5
			}
			if !yield(netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 18, 0, last}), 80)) {
				return
			}
		}
	}, func(rawcheck.Result) { n++ })
	var pe *ProbeError
	if !errors.As(err, &pe) || pe.Target != ap("198.18.0.5:80") || !strings.Contains(err.Error(), "too many open files") {
		t.Errorf("Scan error = %v", err)
	}
	if f.calls.Load() > 100 {
		t.Errorf("scan went on after the failure: %d checks", f.calls.Load())
	}
}

func TestPacer(t *testing.T) {
	if err := newPacer(0).wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	p := newPacer(1000)
	start := time.Now()
	for i := 0; i < 21; i++ {
		p.wait(context.Background())
	}
	// A lower bound only: 21 slots 1ms apart span at least 20ms.
	if d := time.Since(start); d < 19*time.Millisecond {
		t.Errorf("21 events at 1000/s took %v", d)
	}
	p = newPacer(1)
	p.wait(context.Background())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if err := p.wait(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("wait past the deadline: %v", err)
	}
}

func TestOpenUnknown(t *testing.T) {
	if _, _, err := Open("fast", Config{}); err == nil || !strings.Contains(err.Error(), `"fast"`) {
		t.Errorf("Open(fast): %v", err)
	}
}

func TestCloseIdempotent(t *testing.T) {
	var n int
	var mu sync.Mutex
	e := newConnect(&fakeChecker{}, func() error { mu.Lock(); n++; mu.Unlock(); return fmt.Errorf("stopped") }, Config{})
	e.Close()
	if err := e.Close(); err == nil || n != 1 {
		t.Errorf("Close twice: %v, stop called %d times", err, n)
	}
}
