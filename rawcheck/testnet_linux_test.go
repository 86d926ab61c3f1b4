package rawcheck

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rawprobe/rawprobe/internal/verify/netlab"
	"github.com/rawprobe/rawprobe/internal/verify/pcapcheck"
	"github.com/rawprobe/rawprobe/internal/verify/testnet"
)

// newInProber opens a Prober inside n's prober namespace and closes it in
// t.Cleanup.
func newInProber(t testing.TB, n *testnet.Net, cfg Config) *Prober {
	t.Helper()
	var p *Prober
	if err := n.InProber(func() (err error) {
		p, err = New(cfg)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

type stateCase struct {
	name     string
	target   netip.AddrPort
	state    Result
	attempts int
}

// stateCases are one target of each kind in n, for family 4 or 6.
func stateCases(n *testnet.Net, six bool) []stateCase {
	ans, silent, unr := n.Answering4, n.Silent4, n.Unreachable4
	icmpType, icmpCode := uint8(3), uint8(1) // host unreachable
	if six {
		ans, silent, unr = n.Answering6, n.Silent6, n.Unreachable6
		icmpType, icmpCode = 1, 3 // address unreachable
	}
	return []stateCase{
		{"open", netip.AddrPortFrom(netlab.Nth(ans, 7), 80), Result{State: Open}, 1},
		{"closed", netip.AddrPortFrom(netlab.Nth(ans, 7), 81), Result{State: Closed}, 1},
		{"timeout", netip.AddrPortFrom(netlab.Nth(silent, 9), 80), Result{State: Timeout}, 2},
		{"unreachable", netip.AddrPortFrom(netlab.Nth(unr, 5), 80), Result{State: Unreachable, ICMPType: icmpType, ICMPCode: icmpCode}, 1},
	}
}

// checkResult compares r with what tc expects.
func checkResult(t testing.TB, tc stateCase, r Result) {
	t.Helper()
	// An answered probe normally takes one attempt; on a loaded machine a
	// reply may come after the 300 ms timeout, and then the retry is fine.
	attemptsOK := r.Attempts == tc.attempts || (tc.state.State != Timeout && r.Attempts == 2)
	if r.Target != tc.target || r.State != tc.state.State || !attemptsOK ||
		r.ICMPType != tc.state.ICMPType || r.ICMPCode != tc.state.ICMPCode {
		t.Errorf("%s: got %+v, want %v %v after %d attempts (ICMP %d/%d)", tc.name, r, tc.target, tc.state.State, tc.attempts, tc.state.ICMPType, tc.state.ICMPCode)
	}
	if tc.state.State == Timeout {
		if r.RTT != 0 || r.TTL != 0 {
			t.Errorf("%s: timeout with RTT %v TTL %d, want zero", tc.name, r.RTT, r.TTL)
		}
	} else if r.RTT <= 0 || r.RTT > time.Second || r.TTL == 0 {
		t.Errorf("%s: RTT %v TTL %d, want a positive RTT under 1s and a TTL", tc.name, r.RTT, r.TTL)
	}
}

// TestProbeStates probes an open, a closed, a silent and an unreachable
// target over IPv4 and IPv6 in the test network, with one retry, and checks
// the capture: each SYN-ACK answered by exactly one RST, never an ACK. It
// runs with the kernel's RST and with the engine's own; the control runs
// the own RST without suppressing the kernel's and must be caught sending
// two.
func TestProbeStates(t *testing.T) {
	for _, tc := range []struct {
		name      string
		mutate    func(*settings)
		violation bool
	}{
		{"kernel RST", nil, false},
		{"own RST", func(s *settings) { s.ownRST = true }, false},
		{"own RST without suppression (control)", func(s *settings) { s.ownRST, s.keepKernelRST = true, true }, true},
	} {
		t.Run(tc.name, func(t *testing.T) { testProbeStates(t, tc.mutate, tc.violation) })
	}
}

// newWithSettings is New with a test's change to the checked settings.
func newWithSettings(cfg Config, mutate func(*settings)) (*Prober, error) {
	s, err := cfg.check()
	if err != nil {
		return nil, err
	}
	if mutate != nil {
		mutate(&s)
	}
	e, err := newEngine(s)
	if err != nil {
		return nil, err
	}
	return &Prober{e: e}, nil
}

func testProbeStates(t *testing.T, mutate func(*settings), wantViolation bool) {
	n := testnet.New(t)
	l := n.Listen(t, "tcp", ":80")
	var p *Prober
	if err := n.InProber(func() (err error) {
		p, err = newWithSettings(Config{SourcePorts: [2]uint16{61000, 61063}, Timeout: 300 * time.Millisecond, Attempts: 2}, mutate)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	c := pcapcheck.Start(t, n.ProberLink, n.InProber)
	for _, six := range []bool{false, true} {
		for _, tc := range stateCases(n, six) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			r, err := p.Probe(ctx, tc.target)
			cancel()
			if err != nil {
				t.Fatalf("%s %v: %v", tc.name, tc.target, err)
			}
			checkResult(t, tc, r)
		}
	}
	st := p.Stats()
	t.Logf("stats %+v", st)
	if st.Open != 2 || st.Closed != 2 || st.Timeouts != 2 || st.Unreachable != 2 || st.Retransmitted < 2 || st.Invalid != 0 {
		t.Errorf("stats %+v: want 2 of each state, 2 retransmitted (more only if replies were late), 0 invalid", st)
	}
	time.Sleep(50 * time.Millisecond)
	if a := l.Accepted(); a != 0 {
		t.Errorf("the target accepted %d connections, want 0", a)
	}
	rep := c.Analyze()
	t.Logf("capture: %v", rep)
	if rep.SYNACKFlows != 2 || rep.RSTFlows != 2 || rep.ICMPFlows != 2 || rep.NoReplyFlows != 2 || rep.ACKOnlySegments != 0 {
		t.Errorf("capture: %d SYN-ACK, %d RST, %d ICMP, %d silent flows, %d ACK segments; want 2, 2, 2, 2, 0",
			rep.SYNACKFlows, rep.RSTFlows, rep.ICMPFlows, rep.NoReplyFlows, rep.ACKOnlySegments)
	}
	err := rep.Err()
	switch {
	case wantViolation && err == nil:
		t.Error("two RSTs per SYN-ACK went unnoticed by the capture check")
	case wantViolation:
		t.Logf("control caught: %v", err)
	case err != nil:
		t.Error(err)
	}
	if mutate != nil && st.RSTSent != 2 {
		t.Errorf("%d own RSTs sent, want 2", st.RSTSent)
	}
}

// TestScanStates scans every kind of target at once, both families,
// several times each, and checks exactly one result per target.
func TestScanStates(t *testing.T) {
	n := testnet.New(t)
	l := n.Listen(t, "tcp", ":80")
	p := newInProber(t, n, Config{SourcePorts: [2]uint16{61000, 61063}, Timeout: 300 * time.Millisecond, Attempts: 2, Window: 100})
	c := pcapcheck.Start(t, n.ProberLink, n.InProber)
	want := map[netip.AddrPort]stateCase{}
	var targets []netip.AddrPort
	for _, six := range []bool{false, true} {
		for _, tc := range stateCases(n, six) {
			a := tc.target.Addr()
			for range 50 {
				tc.target = netip.AddrPortFrom(a, tc.target.Port())
				want[tc.target] = tc
				targets = append(targets, tc.target)
				a = a.Next()
			}
		}
	}
	got := map[netip.AddrPort]int{}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := p.Scan(ctx, slices.Values(targets), func(r Result) {
		got[r.Target]++
		tc, ok := want[r.Target]
		if !ok {
			t.Errorf("result for a target never asked: %+v", r)
			return
		}
		checkResult(t, tc, r)
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, tg := range targets {
		if got[tg] != 1 {
			t.Errorf("%v: %d results, want 1", tg, got[tg])
		}
	}
	if a := l.Accepted(); a != 0 {
		t.Errorf("the target accepted %d connections, want 0", a)
	}
	t.Logf("stats %+v", p.Stats())
	time.Sleep(50 * time.Millisecond)
	rep := c.Analyze()
	if err := rep.Err(); err != nil {
		t.Error(err)
	}
	if rep.SYNACKFlows != 100 || rep.RSTFlows != 100 || rep.ICMPFlows != 100 || rep.NoReplyFlows != 100 {
		t.Errorf("capture: %v; want 100 flows of each reply", rep)
	}
	// The target's TCP completed no handshake (PassiveOpens counts the
	// children of completed handshakes); the control is one ordinary
	// connection, which it must count.
	if opens := passiveOpens(t, n); opens != 0 {
		t.Errorf("the target's TCP completed %d handshakes, want 0", opens)
	}
	if err := n.InProber(func() error {
		c, err := net.Dial("tcp", netip.AddrPortFrom(netlab.Nth(n.Answering4, 1), 80).String())
		if err == nil {
			c.Close()
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if opens := passiveOpens(t, n); opens != 1 {
		t.Errorf("control: after one ordinary connection the target counts %d handshakes, want 1", opens)
	}
}

// passiveOpens returns the handshakes the target's TCP completed.
func passiveOpens(t *testing.T, n *testnet.Net) uint64 {
	t.Helper()
	c, err := n.TargetCounters()
	if err != nil {
		t.Fatal(err)
	}
	v, ok := c["Tcp.PassiveOpens"]
	if !ok {
		t.Fatal("no Tcp.PassiveOpens counter")
	}
	return v
}

// TestProbeConcurrent runs 2,000 Probes at once, half to open and half to
// closed ports, plus 16 concurrent Probes of one same target (each on its
// own source port): every caller must get its own target's right result.
func TestProbeConcurrent(t *testing.T) {
	n := testnet.New(t)
	n.Listen(t, "tcp", ":80")
	p := newInProber(t, n, Config{SourcePorts: [2]uint16{61000, 61063}, Timeout: time.Second, Attempts: 3})
	type job struct {
		target netip.AddrPort
		want   State
	}
	var jobs []job
	for i := range 1000 {
		a := netlab.Nth(n.Answering4, i+1)
		jobs = append(jobs, job{netip.AddrPortFrom(a, 80), Open}, job{netip.AddrPortFrom(a, 81), Closed})
	}
	same := netip.AddrPortFrom(netlab.Nth(n.Answering4, 5000), 80)
	for range 16 {
		jobs = append(jobs, job{same, Open})
	}
	errs := make(chan error, len(jobs))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, j := range jobs {
		go func() {
			r, err := p.Probe(ctx, j.target)
			switch {
			case err != nil:
				errs <- err
			case r.Target != j.target || r.State != j.want:
				errs <- fmt.Errorf("Probe(%v) = %+v, want %v", j.target, r, j.want)
			default:
				errs <- nil
			}
		}()
	}
	for range jobs {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	st := p.Stats()
	if st.Open != 1016 || st.Closed != 1000 {
		t.Errorf("stats %+v: want 1016 open, 1000 closed", st)
	}
}

// TestScanRate checks the token bucket: 2,000 SYNs at 4,000 per second,
// with a burst of one 256-SYN batch, cannot all leave in less than
// (2,000-256)/4,000 s. (Only a lower bound is checked: the limiter must
// hold back; how fast an unlimited scan goes is for the benchmarks.)
func TestScanRate(t *testing.T) {
	n := testnet.New(t)
	p := newInProber(t, n, Config{SourcePorts: [2]uint16{61000, 61063}, Rate: 4000})
	var targets []netip.AddrPort
	for i := range 2000 {
		targets = append(targets, netip.AddrPortFrom(netlab.Nth(n.Answering4, i+1), 81))
	}
	start := time.Now()
	results := 0
	if err := p.Scan(context.Background(), slices.Values(targets), func(r Result) {
		if r.State == Closed {
			results++
		}
	}); err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	t.Logf("2,000 SYNs at Rate 4,000/s took %v", took)
	if results != len(targets) {
		t.Errorf("%d closed results, want %d", results, len(targets))
	}
	if min := time.Duration(float64(2000-256) / 4000 * float64(time.Second)); took < min {
		t.Errorf("2,000 SYNs at 4,000/s took %v, less than the %v the rate allows", took, min)
	}
}

// TestRouteRefresh checks that a long-lived engine sees routing changes:
// after the route to the silent prefix is deleted, a Probe there gives the
// NoRoute result (nothing sent) once the route cache has expired; before,
// the same Probe went out (the control).
func TestRouteRefresh(t *testing.T) {
	defer func(ttl time.Duration) { routeCacheTTL = ttl }(routeCacheTTL)
	routeCacheTTL = 200 * time.Millisecond
	n := testnet.New(t)
	p := newInProber(t, n, Config{SourcePorts: [2]uint16{61000, 61063}, Timeout: 100 * time.Millisecond, Attempts: 1})
	target := netip.AddrPortFrom(netlab.Nth(n.Silent4, 3), 80)
	if r, err := p.Probe(context.Background(), target); err != nil || r.State != Timeout {
		t.Fatalf("before the change: %+v, %v; want a timeout", r, err)
	}
	if out, err := n.ProberCmd(context.Background(), "ip", "route", "del", n.Silent4.String()).CombinedOutput(); err != nil {
		t.Fatalf("ip route del: %v: %s", err, out)
	}
	time.Sleep(300 * time.Millisecond)
	r, err := p.Probe(context.Background(), target)
	if want := (Result{Target: target, State: NoRoute}); err != nil || r != want {
		t.Errorf("after deleting the route: %+v, %v; want %+v (no route, nothing sent)", r, err, want)
	}
	if st := p.Stats(); st.Sent != 1 || st.NoRoute != 1 || st.Unreachable != 0 || st.Timeouts != 1 {
		t.Errorf("stats %+v: want 1 SYN sent (none without a route), 1 no-route result, 1 timeout, none unreachable", st)
	}
}

// TestInterface forces probes out of the prober's veth by name; an unknown
// interface is refused by New.
func TestInterface(t *testing.T) {
	n := testnet.New(t)
	n.Listen(t, "tcp", ":80")
	p := newInProber(t, n, Config{SourcePorts: [2]uint16{61000, 61063}, Interface: n.ProberLink})
	target := netip.AddrPortFrom(netlab.Nth(n.Answering4, 9), 80)
	if r, err := p.Probe(context.Background(), target); err != nil || r.State != Open {
		t.Errorf("Probe via %s: %+v, %v; want open", n.ProberLink, r, err)
	}
	err := n.InProber(func() error {
		_, err := New(Config{SourcePorts: [2]uint16{61100, 61101}, Interface: "no-such-if0"})
		return err
	})
	if err == nil || !strings.Contains(err.Error(), "Config.Interface") {
		t.Errorf("New with an unknown interface: %v, want an error naming Config.Interface", err)
	}
}

// TestScanBadTargets: a bad target stops Scan with an error naming it, and
// nothing is sent for it (a target without a route does not: see
// TestScanNoRoute).
func TestScanBadTargets(t *testing.T) {
	n := testnet.New(t)
	p := newInProber(t, n, Config{SourcePorts: [2]uint16{61000, 61063}})
	for _, tc := range []struct {
		target netip.AddrPort
		want   string
	}{
		{netip.AddrPortFrom(netlab.Nth(n.Answering4, 1), 0), "bad target"},
		{netip.MustParseAddrPort("224.0.0.9:80"), "multicast"},
		{netip.MustParseAddrPort("0.0.0.0:80"), "unspecified"},
		{netip.MustParseAddrPort("[::]:80"), "unspecified"},
	} {
		results := 0
		err := p.Scan(context.Background(), slices.Values([]netip.AddrPort{tc.target}), func(Result) { results++ })
		if err == nil || !strings.Contains(err.Error(), tc.want) || results != 0 {
			t.Errorf("Scan(%v) = %v with %d results; want an error containing %q", tc.target, err, results, tc.want)
		}
	}
	if st := p.Stats(); st.Sent != 0 {
		t.Errorf("%d SYNs sent for bad targets, want 0", st.Sent)
	}
	// Control: a good target in the same engine is probed.
	if r, err := p.Probe(context.Background(), netip.AddrPortFrom(netlab.Nth(n.Answering4, 1), 81)); err != nil || r.State != Closed {
		t.Errorf("control Probe: %+v, %v; want closed", r, err)
	}
}

// TestScanSmallWindow scans 300 targets with at most 7 in flight: every
// target gets its result, and the window is never exceeded.
func TestScanSmallWindow(t *testing.T) {
	n := testnet.New(t)
	n.Listen(t, "tcp", ":80")
	p := newInProber(t, n, Config{SourcePorts: [2]uint16{61000, 61063}, Window: 7})
	var targets []netip.AddrPort
	for i := range 300 {
		targets = append(targets, netip.AddrPortFrom(netlab.Nth(n.Answering4, i+1), 80))
	}
	seen := map[netip.AddrPort]int{}
	maxPending := 0
	err := p.Scan(context.Background(), slices.Values(targets), func(r Result) {
		seen[r.Target]++
		if r.State != Open {
			t.Errorf("%v: %v, want open", r.Target, r.State)
		}
		p.e.mu.Lock()
		maxPending = max(maxPending, p.e.table.len())
		p.e.mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(seen) != len(targets) {
		t.Errorf("%d targets have results, want %d", len(seen), len(targets))
	}
	if maxPending > 7 {
		t.Errorf("%d probes pending at once, want at most the window of 7", maxPending)
	}
}

// TestSourcePortsExhausted: with two source ports, a third concurrent Probe
// of one same target gets a clear error and sends nothing; the first two
// still end (as timeouts: the target is silent).
func TestSourcePortsExhausted(t *testing.T) {
	n := testnet.New(t)
	p := newInProber(t, n, Config{SourcePorts: [2]uint16{61000, 61001}, Timeout: 2 * time.Second, Attempts: 1})
	target := netip.AddrPortFrom(netlab.Nth(n.Silent4, 1), 80)
	errs := make(chan error, 2)
	for range 2 {
		go func() {
			r, err := p.Probe(context.Background(), target)
			if err == nil && r.State != Timeout {
				err = fmt.Errorf("%+v, want timeout", r)
			}
			errs <- err
		}()
	}
	for deadline := time.Now().Add(5 * time.Second); p.Stats().Sent < 2; {
		if time.Now().After(deadline) {
			t.Fatal("the first two SYNs were not sent")
		}
		time.Sleep(time.Millisecond)
	}
	if _, err := p.Probe(context.Background(), target); err == nil || !strings.Contains(err.Error(), "every source port is busy") {
		t.Errorf("third Probe: %v, want an error saying every source port is busy", err)
	}
	for range 2 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	if st := p.Stats(); st.Sent != 2 {
		t.Errorf("%d SYNs sent, want 2", st.Sent)
	}
}
