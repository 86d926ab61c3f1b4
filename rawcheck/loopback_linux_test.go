package rawcheck

import (
	"context"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/rawprobe/rawprobe/internal/testnet"
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

func TestLoopback(t *testing.T) {
	testnet.RequirePrivileges(t)
	for _, tc := range []struct {
		network, addr string
		ports         [2]uint16
	}{
		{"tcp4", "127.0.0.1:0", [2]uint16{61100, 61131}},
		{"tcp6", "[::1]:0", [2]uint16{61140, 61171}},
	} {
		t.Run(tc.network, func(t *testing.T) {
			open, accepted := acceptCounter(t, tc.network, tc.addr)
			closed := netip.AddrPortFrom(open.Addr(), closedPort(t, tc.network, tc.addr))
			p, err := New(Config{SourcePorts: tc.ports, Timeout: 500 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			r, err := p.Probe(ctx, open)
			if err != nil {
				t.Fatal(err)
			}
			if r.State != Open || r.Target != open || r.Attempts != 1 || r.RTT <= 0 || r.TTL == 0 {
				t.Errorf("Probe(%v) = %+v, want open after 1 attempt", open, r)
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
		})
	}
}
