package netlab

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"syscall"
	"testing"
	"time"
)

// dialIn dials addr with a socket created in the prober namespace.
func dialIn(n *Net, addr netip.AddrPort, timeout time.Duration) error {
	return n.InProber(func() error {
		d := net.Dialer{Timeout: timeout}
		c, err := d.DialContext(context.Background(), "tcp", addr.String())
		if err != nil {
			return err
		}
		return c.Close()
	})
}

func TestNetBehaviour(t *testing.T) {
	t.Parallel()
	n := newTestNet(t)
	before, err := n.TargetCounters()
	if err != nil {
		t.Fatal(err)
	}
	if got := before["Tcp.PassiveOpens"]; got != 0 {
		t.Fatalf("fresh target namespace has Tcp.PassiveOpens %d, want 0", got)
	}
	l := listenTest(t, n, "tcp", ":80")

	a4 := n.Answering4.Addr().Next()
	a6 := n.Answering6.Addr().Next()
	open := []netip.AddrPort{
		netip.AddrPortFrom(a4, 80),
		netip.AddrPortFrom(n.Answering4.Addr().Next().Next().Next(), 80), // any address of the prefix
		netip.AddrPortFrom(a6, 80),
	}
	for _, a := range open {
		if err := dialIn(n, a, 5*time.Second); err != nil {
			t.Errorf("dial open %v: %v", a, err)
		}
	}
	if got := l.WaitAccepted(int64(len(open)), 5*time.Second); got != int64(len(open)) {
		t.Errorf("listener accepted %d connections, want %d", got, len(open))
	}

	for _, c := range []struct {
		what string
		addr netip.AddrPort
		want error
	}{
		{"closed port v4", netip.AddrPortFrom(a4, 81), syscall.ECONNREFUSED},
		{"closed port v6", netip.AddrPortFrom(a6, 81), syscall.ECONNREFUSED},
		{"unreachable v4", netip.AddrPortFrom(n.Unreachable4.Addr().Next(), 80), syscall.EHOSTUNREACH},
		{"unreachable v6", netip.AddrPortFrom(n.Unreachable6.Addr().Next(), 80), syscall.EHOSTUNREACH},
		// No default route in the prober: nothing leaves for 192.0.2.1.
		{"unrouted v4", netip.MustParseAddrPort("192.0.2.1:80"), syscall.ENETUNREACH},
		{"unrouted v6", netip.MustParseAddrPort("[2001:db9::1]:80"), syscall.ENETUNREACH},
	} {
		err := dialIn(n, c.addr, 5*time.Second)
		if !errors.Is(err, c.want) {
			t.Errorf("%s: dial %v: got %v, want %v", c.what, c.addr, err, c.want)
		}
	}
	for _, a := range []netip.AddrPort{
		netip.AddrPortFrom(n.Silent4.Addr().Next(), 80),
		netip.AddrPortFrom(n.Silent6.Addr().Next(), 80),
	} {
		err := dialIn(n, a, 300*time.Millisecond)
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() {
			t.Errorf("silent %v: got %v, want a timeout", a, err)
		}
	}

	after, err := n.TargetCounters()
	if err != nil {
		t.Fatal(err)
	}
	if got := after["Tcp.PassiveOpens"]; got != uint64(len(open)) {
		t.Errorf("Tcp.PassiveOpens = %d, want %d", got, len(open))
	}
	if got := after["Icmp.OutDestUnreachs"]; got < 1 {
		t.Errorf("Icmp.OutDestUnreachs = %d, want >= 1", got)
	}
	if got := after["Icmp6.OutDestUnreachs"]; got < 1 {
		t.Errorf("Icmp6.OutDestUnreachs = %d, want >= 1", got)
	}
	if got := after["Tcp.OutRsts"]; got < 2 {
		t.Errorf("Tcp.OutRsts = %d, want >= 2 (closed ports)", got)
	}
	if l.Accepted() != int64(len(open)) {
		t.Errorf("Accepted = %d after the failing dials, want %d", l.Accepted(), len(open))
	}
}
