package rawcheck

import (
	"context"
	"fmt"
	"net/netip"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rawprobe/rawprobe/internal/verify/testnet"
)

// runIP runs ip with args through in (a namespace's command), failing t.
func runIP(t *testing.T, in func(context.Context, string, ...string) *exec.Cmd, args ...string) {
	t.Helper()
	if out, err := in(context.Background(), "ip", args...).CombinedOutput(); err != nil {
		t.Fatalf("ip %v: %v: %s", args, err, out)
	}
}

// outputSYNs counts the SYNs that pass the prober namespace's netfilter
// OUTPUT hook: those sent on the raw IP socket. Frames sent on the
// AF_PACKET socket skip the IP output path and are not counted.
type outputSYNs struct {
	t     *testing.T
	n     *testnet.Net
	table string
}

func newOutputSYNs(t *testing.T, n *testnet.Net) *outputSYNs {
	t.Helper()
	c := &outputSYNs{t: t, n: n, table: "rpsyn" + n.ProberLink}
	rules := fmt.Sprintf(`table inet %s {
	counter syns {}
	chain out {
		type filter hook output priority 0; policy accept;
		tcp flags & (syn | ack) == syn counter name "syns"
	}
}`, c.table)
	cmd := n.ProberCmd(context.Background(), "nft", "-f", "-")
	cmd.Stdin = strings.NewReader(rules)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("nft: %v: %s", err, out)
	}
	t.Cleanup(func() { n.ProberCmd(context.Background(), "nft", "delete", "table", "inet", c.table).Run() })
	return c
}

var packetsRE = regexp.MustCompile(`packets (\d+)`)

// count returns the SYNs counted so far.
func (c *outputSYNs) count() uint64 {
	c.t.Helper()
	out, err := c.n.ProberCmd(context.Background(), "nft", "list", "counter", "inet", c.table, "syns").CombinedOutput()
	if err != nil {
		c.t.Fatalf("nft list counter: %v: %s", err, out)
	}
	m := packetsRE.FindSubmatch(out)
	if m == nil {
		c.t.Fatalf("nft list counter: no packet count in %q", out)
	}
	v, err := strconv.ParseUint(string(m[1]), 10, 64)
	if err != nil {
		c.t.Fatal(err)
	}
	return v
}

// TestOnLinkFrames checks that SYNs to on-link targets leave as Ethernet
// frames, with the MAC of each target's own neighbour entry, and get the
// right results, IPv4 and IPv6: the target with a permanent neighbour entry
// at once, an added address of the target once the kernel has resolved it
// (ARP, NDP). The control is the first SYN to the added address: its
// neighbour is not resolved yet, so it takes the raw IP socket and the
// OUTPUT hook counts it.
func TestOnLinkFrames(t *testing.T) {
	n := testnet.New(t)
	n.Listen(t, "tcp", ":80")
	extra4, extra6 := netip.MustParseAddr("198.19.254.3"), netip.MustParseAddr("2001:db8:ffff::3")
	runIP(t, n.TargetCmd, "addr", "add", extra4.String()+"/24", "dev", n.TargetLink)
	runIP(t, n.TargetCmd, "addr", "add", extra6.String()+"/64", "dev", n.TargetLink, "nodad")
	syns := newOutputSYNs(t, n)
	p := newInProber(t, n, Config{SourcePorts: [2]uint16{61000, 61063}, Timeout: time.Second, Attempts: 2})
	probe := func(a netip.Addr, port uint16, want State) {
		t.Helper()
		target := netip.AddrPortFrom(a, port)
		if r, err := p.Probe(context.Background(), target); err != nil || r.State != want {
			t.Fatalf("probe of %v: %+v, %v; want %v", target, r, err, want)
		}
	}
	for _, c := range []struct{ known, extra netip.Addr }{{n.TargetAddr4, extra4}, {n.TargetAddr6, extra6}} {
		before := syns.count()
		probe(c.known, 80, Open)
		probe(c.known, 81, Closed)
		if got := syns.count() - before; got != 0 {
			t.Errorf("%v: %d SYNs took the raw IP socket; want all as frames", c.known, got)
		}
		rt, err := p.e.route(c.known)
		if err != nil {
			t.Fatal(err)
		}
		if !rt.ether || rt.gw.IsValid() {
			t.Fatalf("route to %v: ether %v, gateway %v; want on-link over Ethernet", c.known, rt.ether, rt.gw)
		}
		if h := p.e.neigh.find(rt.ifindex, c.known); h == nil || h.eth.Load() == nil {
			t.Fatalf("%v has no resolved next hop in the neighbour cache", c.known)
		}

		before = syns.count()
		probe(c.extra, 80, Open) // the kernel resolves the neighbour
		if got := syns.count() - before; got == 0 {
			t.Errorf("%v: the first SYN to an unresolved neighbour did not take the raw IP socket", c.extra)
		}
		rt, err = p.e.route(c.extra)
		if err != nil {
			t.Fatal(err)
		}
		for deadline := time.Now().Add(2 * time.Second); p.e.ethPath(rt, c.extra) == nil && time.Now().Before(deadline); time.Sleep(neighbourRecheck) {
		}
		h := p.e.neigh.find(rt.ifindex, c.extra)
		if h == nil || h.eth.Load() == nil {
			t.Fatalf("%v: the neighbour was never resolved", c.extra)
		}
		if mac := h.eth.Load().header[0:6]; fmt.Sprintf("%x", mac) != "027270000002" {
			t.Errorf("%v: frames go to MAC %x, want the target's 02:72:70:00:00:02", c.extra, mac)
		}
		before = syns.count()
		probe(c.extra, 81, Closed)
		if got := syns.count() - before; got != 0 {
			t.Errorf("%v once resolved: %d SYNs took the raw IP socket; want all as frames", c.extra, got)
		}
	}
}

// TestUnresolvedNextHop checks that probes whose next hop never resolves,
// a gateway nobody answers ARP or NDP for or an on-link address nobody
// has, end as Unreachable without ICMP type and code, not Timeout, and
// are counted in Stats.Unreachable. The control is the same routes via an
// answering gateway: Open and Closed.
func TestUnresolvedNextHop(t *testing.T) {
	n := testnet.New(t)
	n.Listen(t, "tcp", ":80")
	gw4, gw6 := "198.19.254.3", "2001:db8:ffff::3" // the target answers for these
	dead4, dead6 := "198.19.254.9", "2001:db8:ffff::9"
	runIP(t, n.TargetCmd, "addr", "add", gw4+"/24", "dev", n.TargetLink)
	runIP(t, n.TargetCmd, "addr", "add", gw6+"/64", "dev", n.TargetLink, "nodad")
	for _, r := range [][2]string{
		{"192.0.2.0/25", gw4}, {"192.0.2.128/25", dead4},
		{"2001:db8:c0::/64", gw6}, {"2001:db8:d0::/64", dead6},
	} {
		runIP(t, n.ProberCmd, "route", "add", r[0], "via", r[1], "dev", n.ProberLink)
		runIP(t, n.TargetCmd, "route", "add", "local", r[0], "dev", "lo")
	}
	p := newInProber(t, n, Config{SourcePorts: [2]uint16{61000, 61063}, Timeout: time.Second, Attempts: 2})
	cases := []struct {
		target string
		want   State
	}{
		{"192.0.2.10:80", Open},
		{"192.0.2.10:81", Closed},
		{"[2001:db8:c0::10]:80", Open},
		{"[2001:db8:c0::10]:81", Closed},
		{"192.0.2.140:80", Unreachable},       // gateway dead4
		{"[2001:db8:d0::10]:80", Unreachable}, // gateway dead6
		{"198.19.254.10:80", Unreachable},     // on-link, nobody
		{"[2001:db8:ffff::10]:80", Unreachable},
	}
	targets := make([]netip.AddrPort, len(cases))
	for i, c := range cases {
		targets[i] = netip.MustParseAddrPort(c.target)
	}
	got := make(map[netip.AddrPort]Result)
	start := time.Now()
	if err := p.Scan(context.Background(), slices.Values(targets), func(r Result) { got[r.Target] = r }); err != nil {
		t.Fatal(err)
	}
	t.Logf("scan took %v", time.Since(start))
	unreachable := 0
	for i, c := range cases {
		r, ok := got[targets[i]]
		if !ok {
			t.Errorf("%v: no result", targets[i])
			continue
		}
		if r.State != c.want {
			t.Errorf("%v: %+v; want %v", targets[i], r, c.want)
		}
		if c.want == Unreachable {
			unreachable++
			if r.ICMPType != 0 || r.ICMPCode != 0 || r.Attempts < 1 || r.RTT != 0 {
				t.Errorf("%v: %+v; want no ICMP type or code, no RTT, and the SYNs handed to the kernel as attempts", targets[i], r)
			}
		}
	}
	// Probe ends the same way.
	dead := netip.MustParseAddrPort("198.19.254.11:80")
	if r, err := p.Probe(context.Background(), dead); err != nil || r.State != Unreachable || r.Attempts < 1 {
		t.Errorf("probe of %v: %+v, %v; want unreachable", dead, r, err)
	} else {
		unreachable++
	}
	if st := p.Stats(); st.Unreachable != uint64(unreachable) || st.Timeouts != 0 {
		t.Errorf("stats: %d unreachable, %d timeouts; want %d and 0", st.Unreachable, st.Timeouts, unreachable)
	}
}

// TestAllocsOnLinkSendPath checks that what a Scan does per SYN to an
// on-link target whose neighbour is cached (route lookup, next hop lookup,
// Ethernet frame fill) allocates nothing.
func TestAllocsOnLinkSendPath(t *testing.T) {
	n := testnet.New(t)
	p := newInProber(t, n, Config{SourcePorts: [2]uint16{61000, 61063}})
	b := newSendBatch(1)
	target := netip.AddrPortFrom(n.TargetAddr4, 80)
	fill := func() {
		rt, err := p.e.route(target.Addr())
		if err != nil {
			t.Fatalf("route to %v: %v", target, err)
		}
		b.reset()
		p.e.fill(b, rt, target, 61000, 0x5eed)
	}
	fill() // caches the next hop
	if allocs := testing.AllocsPerRun(1000, fill); allocs != 0 {
		t.Errorf("%v allocations per SYN, want 0", allocs)
	}
	if b.len() != 1 || b.offs[0] != ethHeaderLen || len(b.mmsg) != 1 {
		t.Errorf("the SYN was not filled as an Ethernet frame: %d packets, IP at %d", b.len(), b.offs[0])
	}
}
