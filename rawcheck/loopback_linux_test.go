package rawcheck

import (
	"context"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/rawprobe/rawprobe/internal/verify/pcapcheck"
	"github.com/rawprobe/rawprobe/internal/verify/testnet"
	"github.com/rawprobe/rawprobe/synack"
)

// closedPort returns a loopback port with nothing listening on it.
func closedPort(t *testing.T, network, addr string) uint16 {
	t.Helper()
	l, err := net.Listen(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	return uint16(port)
}

// acceptCounter listens on a loopback address and counts the connections
// the application accepted.
func acceptCounter(t *testing.T, network, addr string) (netip.AddrPort, func() int) {
	t.Helper()
	l, err := net.Listen(network, addr)
	if err != nil {
		t.Skipf("no %s loopback: %v", network, err)
	}
	n := make(chan int, 1)
	n <- 0
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
			n <- <-n + 1
		}
	}()
	t.Cleanup(func() { l.Close() })
	return l.Addr().(*net.TCPAddr).AddrPort(), func() int { v := <-n; n <- v; return v }
}

// TestLoopback probes an open and a closed port on 127.0.0.1 and ::1, with
// the kernel's RST and with the engine's own, and checks the capture on lo.
// Other programs use lo too, so only the flows from the engine's source
// ports are judged. The ranges lie outside the default one, which other
// programs' engines in this namespace may hold.
func TestLoopback(t *testing.T) {
	testnet.RequirePrivileges(t)
	for _, tc := range []struct {
		name, network, addr string
		ports               [2]uint16
		ownRST              bool
	}{
		{"tcp4", "tcp4", "127.0.0.1:0", [2]uint16{63100, 63131}, false},
		{"tcp6", "tcp6", "[::1]:0", [2]uint16{63140, 63171}, false},
		{"tcp4 own RST", "tcp4", "127.0.0.1:0", [2]uint16{63180, 63211}, true},
		{"tcp6 own RST", "tcp6", "[::1]:0", [2]uint16{63220, 63251}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			open, accepted := acceptCounter(t, tc.network, tc.addr)
			closed := netip.AddrPortFrom(open.Addr(), closedPort(t, tc.network, tc.addr))
			// lo is shared with every other program: if the capture drops
			// packets it proves nothing, so that round is done again.
			for round := 1; ; round++ {
				dropped := loopbackRound(t, tc.ports, tc.ownRST, open, closed, accepted)
				if dropped == 0 {
					break
				}
				if round == 3 {
					t.Fatalf("the capture on lo dropped packets in %d rounds (last: %d)", round, dropped)
				}
				t.Logf("round %d: the capture on lo dropped %d packets; again", round, dropped)
			}
		})
	}
}

// loopbackRound probes open and closed once with a new Prober and checks the
// results, the tap and, unless the capture dropped packets (it returns how
// many), the capture.
func loopbackRound(t *testing.T, ports [2]uint16, ownRST bool, open, closed netip.AddrPort, accepted func() int) uint64 {
	tap := &countingTap{}
	p, err := New(Config{SourcePorts: ports, Timeout: 500 * time.Millisecond, OwnRST: ownRST, Tap: tap})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	c := pcapcheck.Start(t, "lo", nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r, err := p.Probe(ctx, open)
	if err != nil {
		t.Fatal(err)
	}
	if r.State != Open || r.Target != open || r.Attempts < 1 || r.RTT <= 0 || r.TTL == 0 {
		t.Errorf("Probe(%v) = %+v, want open", open, r)
	}
	r, err = p.Probe(ctx, closed)
	if err != nil {
		t.Fatal(err)
	}
	if r.State != Closed || r.Target != closed {
		t.Errorf("Probe(%v) = %+v, want closed", closed, r)
	}
	time.Sleep(100 * time.Millisecond)
	if n := accepted(); n != 0 {
		t.Errorf("the listener accepted %d connections, want 0", n)
	}
	st := p.Stats()
	t.Logf("stats %+v", st)
	if st.Open != 1 || st.Closed != 1 || st.Invalid != 0 {
		t.Errorf("stats %+v: want 1 open, 1 closed, 0 invalid", st)
	}
	wantSent := 2 + int(st.RSTSent)
	if s, r := tap.counts(); s != wantSent || r != 2 {
		t.Errorf("tap saw %d sent and %d received packets, want %d and 2", s, r, wantSent)
	}
	rep := c.Analyze()
	if rep.Dropped != 0 {
		return rep.Dropped
	}
	flows := map[netip.AddrPort]pcapcheck.Flow{}
	for _, f := range rep.Flows {
		if f.Prober.Port() >= ports[0] && f.Prober.Port() <= ports[1] {
			flows[f.Target] = f
		}
	}
	if len(flows) != 2 {
		t.Fatalf("capture: %d flows from the engine's ports, want 2: %v", len(flows), flows)
	}
	if f := flows[open]; f.SYNs != 1 || f.SYNACKs != 1 || f.ProberRSTs != 1 || f.ProberACKs != 0 {
		t.Errorf("open flow %+v: want 1 SYN, 1 SYN-ACK, exactly 1 RST, no ACK", f)
	}
	if f := flows[closed]; f.SYNs != 1 || f.TargetRSTs != 1 || f.ProberRSTs != 0 || f.ProberACKs != 0 {
		t.Errorf("closed flow %+v: want 1 SYN answered by RST and nothing more", f)
	}
	return 0
}

// countingTap counts the IP packets a PacketTap is shown.
type countingTap struct {
	mu             sync.Mutex
	sent, received int
}

func (c *countingTap) Packet(_ time.Time, frame []byte, link synack.LinkType, sent bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if link != synack.LinkIP || len(frame) == 0 || (frame[0]>>4 != 4 && frame[0]>>4 != 6) {
		return
	}
	if sent {
		c.sent++
	} else {
		c.received++
	}
}

func (c *countingTap) counts() (sent, received int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sent, c.received
}
