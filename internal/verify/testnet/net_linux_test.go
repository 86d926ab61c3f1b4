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
