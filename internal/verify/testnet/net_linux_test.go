package testnet_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rawprobe/rawprobe/internal/verify/testnet"
)

// dialIn dials addr with a socket created in the prober namespace.
func dialIn(n *testnet.Net, addr netip.AddrPort, timeout time.Duration) error {
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
	if _, ok := testnet.Child(); ok {
		return
	}
	n := testnet.New(t)
	before, err := n.TargetCounters()
	if err != nil {
		t.Fatal(err)
	}
	if got := before["Tcp.PassiveOpens"]; got != 0 {
		t.Fatalf("fresh target namespace has Tcp.PassiveOpens %d, want 0", got)
	}
	l := n.Listen(t, "tcp", ":80")

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

// The host namespace must not see the test network's links, and the
// network must be gone after the test's cleanup.
func TestNetIsolatedAndRemoved(t *testing.T) {
	t.Parallel()
	if _, ok := testnet.Child(); ok {
		return
	}
	var n *testnet.Net
	t.Run("build", func(t *testing.T) {
		n = testnet.New(t)
		for _, name := range []string{n.ProberLink, n.TargetLink} {
			if _, err := net.InterfaceByName(name); err == nil {
				t.Errorf("link %s exists in the host namespace", name)
			}
		}
		for _, ns := range []string{n.ProberNS, n.TargetNS} {
			if _, err := os.Stat("/run/netns/" + ns); err != nil {
				t.Errorf("namespace %s missing while the test runs: %v", ns, err)
			}
		}
		err := n.InProber(func() error {
			_, err := net.InterfaceByName(n.ProberLink)
			return err
		})
		if err != nil {
			t.Errorf("link %s not in the prober namespace: %v", n.ProberLink, err)
		}
		// Links running and neighbours permanent: a raw packet sent right
		// after New leaves at once, without ARP or neighbour discovery.
		for _, c := range []struct {
			cmd  func(context.Context, string, ...string) *exec.Cmd
			link string
			peer []netip.Addr
		}{
			{n.ProberCmd, n.ProberLink, []netip.Addr{n.TargetAddr4, n.TargetAddr6}},
			{n.TargetCmd, n.TargetLink, []netip.Addr{n.ProberAddr4, n.ProberAddr6}},
		} {
			out, err := c.cmd(t.Context(), "ip", "neigh", "show", "dev", c.link).CombinedOutput()
			if err != nil {
				t.Fatalf("ip neigh: %v: %s", err, out)
			}
			for _, a := range c.peer {
				found := false
				for _, line := range strings.Split(string(out), "\n") {
					found = found || strings.HasPrefix(line, a.String()+" lladdr ") && strings.HasSuffix(strings.TrimSpace(line), "PERMANENT")
				}
				if !found {
					t.Errorf("no permanent neighbour %v on %s:\n%s", a, c.link, out)
				}
			}
			out, err = c.cmd(t.Context(), "ip", "link", "show", "dev", c.link).CombinedOutput()
			if err != nil || !strings.Contains(string(out), "state UP") {
				t.Errorf("link %s not up after New: %v: %s", c.link, err, out)
			}
		}
	})
	if n == nil {
		t.Fatal("build did not run")
	}
	for _, ns := range []string{n.ProberNS, n.TargetNS} {
		if _, err := os.Stat("/run/netns/" + ns); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("namespace %s still exists after cleanup (stat: %v)", ns, err)
		}
	}
}

func TestListenErrors(t *testing.T) {
	t.Parallel()
	if _, ok := testnet.Child(); ok {
		return
	}
	n := testnet.New(t)
	for _, c := range [][2]string{
		{"udp", ":80"},
		{"tcp4", "[2001:db8:a::1]:80"},
		{"tcp6", "198.18.0.1:80"},
		{"tcp", "no-such-host.invalid:80"}, // refused, never looked up
		{"tcp", "198.18.0.1:http"},
		{"tcp", "198.18.0.1"},
	} {
		ft := &fakeT{TB: t}
		func() {
			defer func() { recover() }()
			n.Listen(ft, c[0], c[1])
		}()
		if !ft.fatal || !strings.Contains(ft.msg, c[1]) {
			t.Errorf("Listen(%q, %q) did not fail naming the address (message %q)", c[0], c[1], ft.msg)
		}
	}
	// A specific address of the answering prefix, IPv4 and IPv6.
	for _, c := range [][2]string{{"tcp4", "198.18.7.7:443"}, {"tcp6", "[2001:db8:a::7]:443"}} {
		l := n.Listen(t, c[0], c[1])
		ap := netip.MustParseAddrPort(c[1])
		if got := l.Addr().(*net.TCPAddr).AddrPort(); got != ap {
			t.Errorf("Listen(%q, %q).Addr() = %v", c[0], c[1], got)
		}
		if err := dialIn(n, ap, 5*time.Second); err != nil {
			t.Errorf("dial %v: %v", ap, err)
		}
		if got := l.WaitAccepted(1, 5*time.Second); got != 1 {
			t.Errorf("%v accepted %d, want 1", ap, got)
		}
	}
}

// fakeT records a Fatal call instead of ending the test; the caller
// recovers the panic that stops the code under test.
type fakeT struct {
	testing.TB
	fatal bool
	msg   string
}

func (f *fakeT) Helper() {}

func (f *fakeT) Fatal(args ...any) { f.fail(fmt.Sprint(args...)) }

func (f *fakeT) Fatalf(format string, args ...any) { f.fail(fmt.Sprintf(format, args...)) }

func (f *fakeT) fail(msg string) {
	f.fatal, f.msg = true, msg
	panic("fakeT: fatal")
}
