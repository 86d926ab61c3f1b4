package rawcheck

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/rawprobe/rawprobe/internal/verify/netlab"
	"github.com/rawprobe/rawprobe/internal/verify/testnet"
	"github.com/rawprobe/rawprobe/synack"
)

// proberBroadcast4 returns the broadcast address of the prober's IPv4
// subnet on its link, read from the interface in the prober namespace.
func proberBroadcast4(t *testing.T, n *testnet.Net) netip.Addr {
	t.Helper()
	var bcast netip.Addr
	if err := n.InProber(func() error {
		ifi, err := net.InterfaceByName(n.ProberLink)
		if err != nil {
			return err
		}
		addrs, err := ifi.Addrs()
		if err != nil {
			return err
		}
		for _, a := range addrs {
			ipn, ok := a.(*net.IPNet)
			if !ok || ipn.IP.To4() == nil || !ipn.IP.Equal(n.ProberAddr4.AsSlice()) {
				continue
			}
			ip4, mask := ipn.IP.To4(), net.IP(ipn.Mask).To4()
			var b [4]byte
			for i := range b {
				b[i] = ip4[i] | ^mask[i]
			}
			bcast = netip.AddrFrom4(b)
			return nil
		}
		return fmt.Errorf("no address %v on %s", n.ProberAddr4, n.ProberLink)
	}); err != nil {
		t.Fatal(err)
	}
	return bcast
}

// TestScanRefusedSYN: a Scan whose SYN to one target the prober's kernel
// refuses (the broadcast address of the prober's own subnet: a raw IP
// socket without SO_BROADCAST gets EACCES) gives that target NoRoute with
// nothing sent (no attempt, no RTT), at once, not a timeout with an attempt
// that never left; it is counted in Stats.SendErrors and Stats.NoRoute, not
// in Sent or Timeouts. The targets around it (the control) end as their
// targets answer, each with its one attempt.
func TestScanRefusedSYN(t *testing.T) {
	n := testnet.New(t)
	n.Listen(t, "tcp", ":80")
	tap := &dstTap{sent: map[netip.Addr]int{}}
	p := newInProber(t, n, Config{SourcePorts: [2]uint16{61000, 61063}, Timeout: 200 * time.Millisecond, Attempts: 1, Tap: tap})
	bcast := netip.AddrPortFrom(proberBroadcast4(t, n), 80)
	open := netip.AddrPortFrom(netlab.Nth(n.Answering4, 51), 80)
	silent := netip.AddrPortFrom(netlab.Nth(n.Silent4, 53), 80)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	got := map[netip.AddrPort][]Result{}
	if err := p.Scan(ctx, slices.Values([]netip.AddrPort{open, bcast, silent}), func(r Result) {
		got[r.Target] = append(got[r.Target], r)
	}); err != nil {
		t.Fatalf("Scan: %v", err)
	}
	for _, target := range []netip.AddrPort{open, bcast, silent} {
		if len(got[target]) != 1 {
			t.Fatalf("%v: results %+v, want exactly one", target, got[target])
		}
	}
	// The tap shows what left: no SYN to the refused target, one to each
	// of the others (the control that the tap sees sent SYNs).
	for target, want := range map[netip.AddrPort]int{bcast: 0, open: 1, silent: 1} {
		if n := tap.count(target.Addr()); n != want {
			t.Errorf("the tap saw %d SYNs to %v, want %d", n, target, want)
		}
	}
	if r, want := got[bcast][0], (Result{Target: bcast, State: NoRoute}); r != want {
		t.Errorf("%v (refused by the kernel): %+v, want %+v: nothing sent", bcast, r, want)
	}
	if r := got[open][0]; r.State != Open || r.Attempts != 1 {
		t.Errorf("%v (control): %+v, want Open with 1 attempt", open, r)
	}
	if r := got[silent][0]; r.State != Timeout || r.Attempts != 1 {
		t.Errorf("%v: %+v, want Timeout with 1 attempt", silent, r)
	}
	st := p.Stats()
	if st.SendErrors != 1 || st.NoRoute != 1 || st.Timeouts != 1 || st.Sent != 2 || st.Open != 1 || st.Retransmitted != 0 {
		t.Errorf("stats %+v: want 1 send error, 1 no-route result, 1 timeout (the silent target), 2 SYNs sent, 1 open, no retransmission", st)
	}
}

// settleEngine returns an engine with just what settleRefused and
// finishLocked use, a Scan session, and a Template for prober4.
func settleEngine(t *testing.T) (*engine, *session, *synack.Template) {
	t.Helper()
	nonces, err := newNonceSource(16)
	if err != nil {
		t.Fatal(err)
	}
	e := &engine{key: synack.CookieKey{K0: 1, K1: 2}, table: newPendingTable(16, 3), nonces: nonces}
	tmpl, err := synack.NewTemplate(synack.TemplateConfig{Src: netip.MustParseAddr("198.19.254.1")})
	if err != nil {
		t.Fatal(err)
	}
	return e, e.newSession(false), tmpl
}

// TestSettleRefused drives settleRefused without privileges on batches
// whose packets are marked refused by hand: a refused first attempt ends
// as NoRoute with no attempt; a refused retransmission ends as Timeout with
// the attempts that left; a refused first attempt whose retransmission went
// out meanwhile stays pending with that one attempt. A SYN refused for want
// of buffers (ENOBUFS) is taken off the attempts but the probe stays
// pending, to be sent again, unless the kernel has refused it
// maxBufferRefusals times: then it ends the same way. Left alone: a packet
// whose 4-tuple is pending for another probe (another nonce) and a packet
// accepted by the kernel.
func TestSettleRefused(t *testing.T) {
	e, s, tmpl := settleEngine(t)
	const sport = 61000
	type probe struct {
		target   netip.AddrPort
		touches  int  // retransmissions recorded before the send
		nonceOff bool // the packet carries another nonce than the pending probe
		errno    unix.Errno
		refused  bool
		// bufferRefusals is how many SYNs of the probe the kernel
		// refused for want of buffers before.
		bufferRefusals uint8
	}
	addr := func(i int) netip.AddrPort {
		return netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 18, 0, byte(i)}), 80)
	}
	first := []probe{
		{target: addr(1), errno: unix.EACCES, refused: true},  // NoRoute
		{target: addr(2), errno: unix.ENOBUFS, refused: true}, // not an attempt, sent again later
		{target: addr(3), errno: unix.EPERM, refused: true, nonceOff: true},
		{target: addr(4)}, // sent
		{target: addr(5), errno: unix.EACCES, refused: true, touches: 1},                             // raced
		{target: addr(9), errno: unix.ENOBUFS, refused: true, bufferRefusals: maxBufferRefusals - 1}, // NoRoute: refused for good
	}
	retry := []probe{
		{target: addr(6), errno: unix.ENETUNREACH, refused: true, touches: 1},                                     // Timeout, 1 attempt
		{target: addr(7), errno: unix.EACCES, refused: true, touches: 2},                                          // Timeout, 2 attempts
		{target: addr(8), touches: 1},                                                                             // sent
		{target: addr(10), errno: unix.ENOBUFS, refused: true, touches: 1, bufferRefusals: maxBufferRefusals - 1}, // Timeout, 1 attempt
		{target: addr(11), errno: unix.ENOBUFS, refused: true, touches: 1},                                        // 1 attempt, sent again later
	}
	entries := map[netip.AddrPort]uint32{}
	run := func(probes []probe, retransmitted bool) {
		b := newSendBatch(len(probes))
		e.mu.Lock()
		for i, pr := range probes {
			k := e.table.insert(keyOf(pr.target, sport), s.id, 0, 0, 0)
			if k == 0 {
				t.Fatalf("insert %v failed", pr.target)
			}
			entries[pr.target] = k
			p := e.table.at(k)
			p.nonce = uint32(100 + i)
			p.bufferRefusals = pr.bufferRefusals
			s.inflight++
			for range pr.touches {
				e.table.touch(k, 0, 0)
			}
			nonce := p.nonce
			if pr.nonceOff {
				nonce++
			}
			seq := e.key.Sequence(netip.MustParseAddr("198.19.254.1"), pr.target.Addr(), sport, pr.target.Port(), nonce)
			b.add(tmpl.FillPacket(b.next(), pr.target.Addr(), sport, pr.target.Port(), seq), pr.target.Addr())
			if pr.refused {
				b.failed = append(b.failed, i)
				b.errs = append(b.errs, pr.errno)
			}
		}
		e.mu.Unlock()
		e.settleRefused(b, retransmitted)
	}
	run(first, false)
	run(retry, true)

	results := map[netip.AddrPort]Result{}
	for _, r := range s.results {
		results[r.Target] = r
	}
	wantResults := map[netip.AddrPort]Result{
		addr(1):  {Target: addr(1), State: NoRoute},
		addr(6):  {Target: addr(6), State: Timeout, Attempts: 1},
		addr(7):  {Target: addr(7), State: Timeout, Attempts: 2},
		addr(9):  {Target: addr(9), State: NoRoute},
		addr(10): {Target: addr(10), State: Timeout, Attempts: 1},
	}
	if len(results) != len(wantResults) || len(s.results) != len(wantResults) {
		t.Errorf("results %+v, want %+v", s.results, wantResults)
	}
	for target, want := range wantResults {
		if r := results[target]; r != want {
			t.Errorf("%v: %+v, want %+v", target, r, want)
		}
		if e.table.lookup(keyOf(target, sport)) != 0 {
			t.Errorf("%v: still pending after its result", target)
		}
	}
	// Still pending, with their attempts: left alone (addr 3: the packet
	// is not the pending probe's), or less the refused attempt (addr 5,
	// raced; addr 2 and 11, refused for want of buffers and sent again
	// later).
	for target, attempts := range map[netip.AddrPort]uint8{addr(2): 0, addr(3): 1, addr(4): 1, addr(5): 1, addr(8): 2, addr(11): 1} {
		k := e.table.lookup(keyOf(target, sport))
		if k == 0 || k != entries[target] {
			t.Errorf("%v: not pending, want pending", target)
			continue
		}
		if got := e.table.at(k).attempts; got != attempts {
			t.Errorf("%v: %d attempts pending, want %d", target, got, attempts)
		}
	}
	if s.inflight != 6 {
		t.Errorf("session has %d probes in flight, want 6", s.inflight)
	}
	if st := e.count.snapshot(); st.NoRoute != 2 || st.Timeouts != 3 {
		t.Errorf("stats %+v: want 2 no-route results and 3 timeouts", st)
	}
	for target, n := range map[netip.AddrPort]uint8{addr(2): 1, addr(11): 1} {
		if got := e.table.at(e.table.lookup(keyOf(target, sport))).bufferRefusals; got != n {
			t.Errorf("%v: %d refusals for want of buffers recorded, want %d", target, got, n)
		}
	}
}
