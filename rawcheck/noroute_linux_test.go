package rawcheck

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/rawprobe/rawprobe/internal/verify/netlab"
	"github.com/rawprobe/rawprobe/internal/verify/pcapcheck"
	"github.com/rawprobe/rawprobe/internal/verify/testnet"
	"github.com/rawprobe/rawprobe/synack"
)

// dstTap counts the packets the engine sends, by destination address.
type dstTap struct {
	mu   sync.Mutex
	sent map[netip.Addr]int
}

func (d *dstTap) Packet(_ time.Time, ip []byte, link synack.LinkType, sent bool) {
	if !sent || link != synack.LinkIP || len(ip) < 20 {
		return
	}
	var dst netip.Addr
	switch ip[0] >> 4 {
	case 4:
		dst = netip.AddrFrom4([4]byte(ip[16:20]))
	case 6:
		if len(ip) < 40 {
			return
		}
		dst = netip.AddrFrom16([16]byte(ip[24:40]))
	default:
		return
	}
	d.mu.Lock()
	d.sent[dst]++
	d.mu.Unlock()
}

func (d *dstTap) count(a netip.Addr) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.sent[a]
}

// TestScanNoRoute: a Scan over answering targets with two targets the
// prober has no route to among them (TEST-NET-1 192.0.2.1 and
// 2001:db8:dead::1: the prober's namespace routes only the test prefixes)
// goes on past them and gives one Result per target: the unroutable ones
// NoRoute with nothing sent (no attempt, no RTT, no TTL, no ICMP type),
// counted in Stats.NoRoute and not in Stats.Unreachable; the others open,
// closed, timeout and unreachable (an ICMP error) as their targets answer. The tap and the capture show SYNs to every routable
// target (the control: they do see what is sent) and none to the
// unroutable ones. Probe gives the same result for an unroutable target.
func TestScanNoRoute(t *testing.T) {
	n := testnet.New(t)
	n.Listen(t, "tcp", ":80")
	tap := &dstTap{sent: map[netip.Addr]int{}}
	p := newInProber(t, n, Config{SourcePorts: [2]uint16{61000, 61063}, Timeout: 200 * time.Millisecond, Attempts: 1, Tap: tap})
	noRoute4 := netip.MustParseAddrPort("192.0.2.1:80")
	noRoute6 := netip.MustParseAddrPort("[2001:db8:dead::1]:80")
	want := map[netip.AddrPort]State{
		netip.AddrPortFrom(netlab.Nth(n.Answering4, 41), 80): Open,
		noRoute4: NoRoute,
		netip.AddrPortFrom(netlab.Nth(n.Answering4, 42), 81): Closed,
		netip.AddrPortFrom(netlab.Nth(n.Silent4, 43), 80):    Timeout,
		noRoute6: NoRoute,
		netip.AddrPortFrom(netlab.Nth(n.Answering6, 44), 80):   Open,
		netip.AddrPortFrom(netlab.Nth(n.Unreachable4, 45), 80): Unreachable,
	}
	// The unroutable targets in the middle of the sequence, not last.
	order := []netip.AddrPort{
		netip.AddrPortFrom(netlab.Nth(n.Answering4, 41), 80), noRoute4,
		netip.AddrPortFrom(netlab.Nth(n.Answering4, 42), 81), netip.AddrPortFrom(netlab.Nth(n.Silent4, 43), 80),
		noRoute6, netip.AddrPortFrom(netlab.Nth(n.Answering6, 44), 80), netip.AddrPortFrom(netlab.Nth(n.Unreachable4, 45), 80),
	}
	c := pcapcheck.Start(t, n.ProberLink, n.InProber)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	got := map[netip.AddrPort][]Result{}
	if err := p.Scan(ctx, slices.Values(order), func(r Result) { got[r.Target] = append(got[r.Target], r) }); err != nil {
		t.Fatalf("Scan: %v; want every target probed", err)
	}
	rep := c.Analyze()
	for target, state := range want {
		rs := got[target]
		if len(rs) != 1 {
			t.Errorf("%v: %d results, want 1", target, len(rs))
			continue
		}
		r := rs[0]
		if r.State != state {
			t.Errorf("%v: %v, want %v", target, r.State, state)
		}
		unroutable := target == noRoute4 || target == noRoute6
		switch {
		case unroutable && r != (Result{Target: target, State: NoRoute}):
			t.Errorf("%v: %+v, want NoRoute with no attempt, RTT, TTL or ICMP type", target, r)
		case !unroutable && r.Attempts != 1:
			t.Errorf("%v: %d attempts, want 1", target, r.Attempts)
		case !unroutable && state == Unreachable && r.ICMPType != 3:
			t.Errorf("%v: ICMP type %d, want 3 (an ICMP error, not the no-route result)", target, r.ICMPType)
		}
		sent := tap.count(target.Addr())
		if unroutable && sent != 0 || !unroutable && sent != 1 {
			t.Errorf("%v: the engine sent %d packets to it, want %d", target, sent, map[bool]int{true: 0, false: 1}[unroutable])
		}
		flow := slices.IndexFunc(rep.Flows, func(f pcapcheck.Flow) bool { return f.Target == target })
		if unroutable == (flow >= 0) {
			t.Errorf("%v: flow in the capture %v, want %v", target, flow >= 0, !unroutable)
		}
	}
	if len(got) != len(want) {
		t.Errorf("results for %d targets, want %d: %v", len(got), len(want), got)
	}
	if err := rep.Err(); err != nil {
		t.Error(err)
	}
	st := p.Stats()
	if st.NoRoute != 2 || st.Sent != 5 || st.SendErrors != 0 || st.Unreachable != 1 {
		t.Errorf("stats %+v: want 2 no-route results, 5 SYNs sent, no send error, 1 unreachable (the ICMP error alone)", st)
	}

	r, err := p.Probe(ctx, noRoute4)
	if want := (Result{Target: noRoute4, State: NoRoute}); err != nil || r != want {
		t.Errorf("Probe(%v) = %+v, %v; want %+v, nil", noRoute4, r, err, want)
	}
	if st := p.Stats(); st.NoRoute != 3 || st.Sent != 5 || st.Unreachable != 1 {
		t.Errorf("after Probe: stats %+v: want 3 no-route results, still 5 SYNs sent and 1 unreachable", st)
	}
}

// TestScanNoRouteCancel: a Scan of unroutable targets only (every port of
// 192.0.2.1) still ends when ctx does, though it has nothing to send or
// wait for: cancelled at the 100th result, it returns context.Canceled
// with exactly 100. Control: the same Scan of 300 ports, not cancelled,
// gives 300 no-route results and nil.
func TestScanNoRouteCancel(t *testing.T) {
	n := testnet.New(t)
	p := newInProber(t, n, Config{SourcePorts: [2]uint16{61000, 61063}})
	ports := func(last int) func(func(netip.AddrPort) bool) {
		return func(yield func(netip.AddrPort) bool) {
			for port := 1; port <= last; port++ {
				if !yield(netip.AddrPortFrom(netip.MustParseAddr("192.0.2.1"), uint16(port))) {
					return
				}
			}
		}
	}
	results := 0
	if err := p.Scan(context.Background(), ports(300), func(r Result) {
		if r == (Result{Target: r.Target, State: NoRoute}) {
			results++
		}
	}); err != nil || results != 300 {
		t.Fatalf("control: Scan of 300 unroutable targets: %v, %d no-route results; want nil and 300", err, results)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	results = 0
	err := p.Scan(ctx, ports(65535), func(Result) {
		results++
		if results == 100 {
			cancel()
		}
	})
	if !errors.Is(err, context.Canceled) || results != 100 {
		t.Errorf("cancelled Scan: %v after %d results; want context.Canceled after 100", err, results)
	}
	if st := p.Stats(); st.Sent != 0 || st.NoRoute != 400 || st.Unreachable != 0 {
		t.Errorf("stats %+v: want nothing sent, 400 no-route results, none unreachable", st)
	}
}
