package rawcheck

import (
	"context"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rawprobe/rawprobe/internal/verify/netlab"
	"github.com/rawprobe/rawprobe/internal/verify/testnet"
)

// TestReservePortsChunks reserves chunks of one range in the prober
// namespace: each reservation gets the next wholly free aligned chunk, a
// chunk with one port in use is skipped whole, the last chunk may be
// short; with no chunk wholly free the first with free ports serves, and
// a range with no free port fails naming the range.
func TestReservePortsChunks(t *testing.T) {
	testnet.RequirePrivileges(t)
	n := testnet.New(t)
	err := n.InProber(func() error {
		const lo, hi = 40000, 40009 // chunks of 4: 40000-3, 40004-7, 40008-9
		a, err := reservePorts(lo, hi, 4, false)
		if err != nil {
			return err
		}
		defer a.close()
		if a.lo != 40000 || a.hi != 40003 || len(a.ports) != 4 {
			t.Errorf("first reservation: chunk %d-%d with %d ports, want 40000-40003 with 4", a.lo, a.hi, len(a.ports))
		}
		// Someone else holds 40005: the chunk 40004-40007 is not free.
		held, err := net.Listen("tcp", ":40005")
		if err != nil {
			return err
		}
		defer held.Close()
		b, err := reservePorts(lo, hi, 4, false)
		if err != nil {
			return err
		}
		defer b.close()
		if b.lo != 40008 || b.hi != 40009 || len(b.ports) != 2 {
			t.Errorf("second reservation: chunk %d-%d with %d ports, want 40008-40009 with 2 (40004-40007 has a port in use)", b.lo, b.hi, len(b.ports))
		}
		// Negative control: the skipped chunk's free ports were released,
		// so they can be bound now.
		if l, err := net.Listen("tcp", ":40004"); err != nil {
			t.Errorf("port 40004 of the skipped chunk is still held: %v", err)
		} else {
			l.Close()
		}
		// No chunk is wholly free: the free ports of the first chunk
		// that has any.
		c, err := reservePorts(lo, hi, 4, false)
		if err != nil {
			return err
		}
		defer c.close()
		if c.lo != 40004 || c.hi != 40007 || !slices.Equal(c.ports, []uint16{40004, 40006, 40007}) {
			t.Errorf("third reservation: chunk %d-%d ports %v, want 40004-40007 ports [40004 40006 40007]", c.lo, c.hi, c.ports)
		}
		d, err := reservePorts(lo, hi, 4, false)
		if err == nil {
			d.close()
			t.Fatalf("fourth reservation got chunk %d-%d, want an error: every port is in use", d.lo, d.hi)
		}
		if !strings.Contains(err.Error(), "40000-40009") {
			t.Errorf("error %q does not name the range 40000-40009", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestProbersInSeveralProcesses runs two raw Probers at once in two
// processes in the same prober namespace, on the default source-port
// range: each gets its own chunk, every result is right, and neither
// counts a reply as invalid (forged) — which it would if it saw the
// replies to the other's probes.
func TestProbersInSeveralProcesses(t *testing.T) {
	child, inChild := testnet.Child()
	var n *testnet.Net
	if !inChild {
		testnet.RequirePrivileges(t)
		n = testnet.New(t)
		n.Listen(t, "tcp4", netip.AddrPortFrom(netlab.Nth(n.Answering4, 1), 80).String())
		n.Listen(t, "tcp6", netip.AddrPortFrom(netlab.Nth(n.Answering6, 1), 80).String())
	}
	t.Run("group", func(t *testing.T) {
		for _, name := range []string{"a", "b", "c"} {
			t.Run(name, func(t *testing.T) {
				if inChild {
					scanInChild(t, child)
					return
				}
				t.Parallel()
				n.RunInProber(t)
			})
		}
	})
}

// scanInChild is one process of TestProbersInSeveralProcesses: a Scan of
// open, closed and silent targets, long enough to overlap the others.
func scanInChild(t *testing.T, n *testnet.Net) {
	p, err := New(Config{Rate: 400, Timeout: 300 * time.Millisecond, Attempts: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	t.Logf("source ports %d-%d", p.e.ports.lo, p.e.ports.hi)
	want := map[netip.AddrPort]State{}
	for i := range 200 {
		want[netip.AddrPortFrom(netlab.Nth(n.Answering4, 1), uint16(1000+i))] = Closed
		want[netip.AddrPortFrom(netlab.Nth(n.Answering6, 1), uint16(1000+i))] = Closed
	}
	want[netip.AddrPortFrom(netlab.Nth(n.Answering4, 1), 80)] = Open
	want[netip.AddrPortFrom(netlab.Nth(n.Answering6, 1), 80)] = Open
	for i := range 20 {
		want[netip.AddrPortFrom(netlab.Nth(n.Silent4, 1), uint16(80+i))] = Timeout
	}
	seq := func(yield func(netip.AddrPort) bool) {
		for a := range want {
			if !yield(a) {
				return
			}
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	got := 0
	err = p.Scan(ctx, seq, func(r Result) {
		got++
		if r.State != want[r.Target] {
			t.Errorf("%v: %v, want %v", r.Target, r.State, want[r.Target])
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if got != len(want) {
		t.Errorf("%d results, want %d", got, len(want))
	}
	if s := p.Stats(); s.Invalid != 0 {
		t.Errorf("%d replies counted invalid, want 0 (another process's replies reached this engine)", s.Invalid)
	}
	t.Logf("%d targets, stats %+v", got, p.Stats())
}
