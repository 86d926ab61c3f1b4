package rawcheck

import (
	"context"
	"net/netip"
	"os/exec"
	"testing"
	"time"

	"github.com/rawprobe/rawprobe/internal/verify/netlab"
	"github.com/rawprobe/rawprobe/internal/verify/testnet"
)

// TestEthernetPath checks that SYNs to a gateway route with a resolved
// neighbour leave as Ethernet frames on the AF_PACKET socket and are
// answered, while loopback (no Ethernet framing, the control) keeps the
// raw IP socket.
func TestEthernetPath(t *testing.T) {
	n := testnet.New(t)
	n.Listen(t, "tcp", ":80")
	p := newInProber(t, n, Config{SourcePorts: [2]uint16{61000, 61063}, Timeout: 300 * time.Millisecond, Attempts: 2})
	target := netip.AddrPortFrom(netlab.Nth(n.Answering4, 7), 80)
	r, err := p.Probe(context.Background(), target)
	if err != nil || r.State != Open {
		t.Fatalf("probe of %v: %+v, %v; want open", target, r, err)
	}
	rt, err := p.e.route(target.Addr())
	if err != nil {
		t.Fatal(err)
	}
	if rt.hop == nil || rt.hop.eth.Load() == nil {
		t.Errorf("route to %v via the veth has no Ethernet path", target)
	}
	lo, err := p.e.route(netip.MustParseAddr("127.0.0.1"))
	if err != nil {
		t.Fatal(err)
	}
	if lo.ether || lo.hop != nil {
		t.Errorf("route over loopback has an Ethernet path: loopback has no Ethernet framing")
	}
}

// TestInterfaceAfterNew adds a link, an address and a route in the prober
// namespace after New and probes through them: the listener opened by New
// hears the replies on the new interface, and the SYNs, sent through the
// raw IP socket until the kernel has resolved the new gateway's neighbour,
// then leave as Ethernet frames. Before the route exists the same target
// has no route (the control).
func TestInterfaceAfterNew(t *testing.T) {
	n := testnet.New(t)
	n.Listen(t, "tcp", ":80")
	p := newInProber(t, n, Config{SourcePorts: [2]uint16{61000, 61063}, Timeout: 300 * time.Millisecond, Attempts: 2})
	target := netip.AddrPortFrom(netip.MustParseAddr("192.0.2.70"), 80)
	if r, err := p.Probe(context.Background(), target); err != nil || r.State != NoRoute {
		t.Fatalf("before the new link: %+v, %v; want no route", r, err)
	}
	pl, tl := n.ProberLink+"n", n.TargetLink+"n"
	ip := func(in func(context.Context, string, ...string) *exec.Cmd, args ...string) {
		t.Helper()
		if out, err := in(context.Background(), "ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %v: %v: %s", args, err, out)
		}
	}
	ip(n.ProberCmd, "link", "add", pl, "type", "veth", "peer", "name", tl, "netns", n.TargetNS)
	t.Cleanup(func() { n.ProberCmd(context.Background(), "ip", "link", "del", pl).Run() })
	ip(n.ProberCmd, "link", "set", pl, "up")
	ip(n.ProberCmd, "addr", "add", "192.0.2.1/30", "dev", pl)
	ip(n.ProberCmd, "route", "add", "192.0.2.64/26", "via", "192.0.2.2", "dev", pl)
	ip(n.TargetCmd, "link", "set", tl, "up")
	ip(n.TargetCmd, "addr", "add", "192.0.2.2/30", "dev", tl)
	ip(n.TargetCmd, "route", "add", "local", "192.0.2.64/26", "dev", "lo")
	// The route cache is built anew after routeCacheTTL, or at once for an
	// address no cached table prefix covers; wait for the link to come up.
	var r Result
	var err error
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if r, err = p.Probe(context.Background(), target); err == nil && r.State == Open {
			break
		}
	}
	if err != nil || r.State != Open {
		t.Fatalf("through the new link: %+v, %v; want open", r, err)
	}
	rt, err := p.e.route(target.Addr())
	if err != nil {
		t.Fatal(err)
	}
	if rt.hop == nil {
		t.Fatalf("the route to %v via the new gateway has no next hop", target)
	}
	for deadline := time.Now().Add(2 * time.Second); p.e.ethPath(rt, target.Addr()) == nil && time.Now().Before(deadline); time.Sleep(neighbourRecheck) {
	}
	if rt.hop.eth.Load() == nil {
		t.Fatalf("the new gateway's neighbour was never resolved: SYNs stay on the raw IP socket")
	}
	if r, err = p.Probe(context.Background(), netip.AddrPortFrom(target.Addr(), 81)); err != nil || r.State != Closed {
		t.Errorf("through the new link as Ethernet frames: %+v, %v; want closed", r, err)
	}
}

// TestSendPathAllocations checks that what a Scan does per SYN before the
// system call (route lookup, no-route check, Ethernet frame fill) allocates
// nothing.
func TestSendPathAllocations(t *testing.T) {
	n := testnet.New(t)
	p := newInProber(t, n, Config{SourcePorts: [2]uint16{61000, 61063}})
	b := newSendBatch(1)
	target := netip.AddrPortFrom(netlab.Nth(n.Silent4, 3), 80)
	allocs := testing.AllocsPerRun(1000, func() {
		rt, err := p.e.route(target.Addr())
		if isNoRoute(err) || err != nil {
			t.Fatalf("route to %v: %v", target, err)
		}
		b.reset()
		p.e.fill(b, rt, target, 61000, 0x5eed)
	})
	if allocs != 0 {
		t.Errorf("%v allocations per SYN, want 0", allocs)
	}
	if b.len() != 1 || b.offs[0] != ethHeaderLen || len(b.mmsg) != 1 {
		t.Errorf("the SYN was not filled as an Ethernet frame: %d packets, IP at %d", b.len(), b.offs[0])
	}
}
