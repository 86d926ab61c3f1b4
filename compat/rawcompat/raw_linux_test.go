package rawcompat

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rawprobe/rawprobe/compat"
	"github.com/rawprobe/rawprobe/internal/verify/pcapcheck"
	"github.com/rawprobe/rawprobe/internal/verify/testnet"
	"github.com/rawprobe/rawprobe/rawcheck"
)

// startRawChecker runs the CheckingLoop of a raw Checker through enter (nil:
// in this namespace), waits until it is ready and stops it in t.Cleanup.
func startRawChecker(t *testing.T, cfg rawcheck.Config, enter func(func() error) error) *compat.Checker {
	t.Helper()
	c := NewRawChecker(cfg)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		loop := func() error { return c.CheckingLoop(ctx) }
		if enter == nil {
			done <- loop()
		} else {
			done <- enter(loop)
		}
	}()
	select {
	case <-c.WaitReady():
	case err := <-done:
		cancel()
		t.Fatalf("CheckingLoop: %v", err)
	case <-time.After(10 * time.Second):
		cancel()
		t.Fatal("raw Checker not ready after 10s")
	}
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("CheckingLoop: %v", err)
		}
	})
	return c
}

func rawWantErrno(errno syscall.Errno) func(error) bool {
	return func(err error) bool {
		var ce *compat.ErrConnect
		return errors.As(err, &ce) && ce.Errno == errno
	}
}

func rawWantNil(err error) bool     { return err == nil }
func rawWantTimeout(err error) bool { return err == compat.ErrTimeout }

// TestRawCheckerLoopback checks an open and a closed port on 127.0.0.1 and
// ::1 through the raw engine, and the not-running errors around the loop.
func TestRawCheckerLoopback(t *testing.T) {
	testnet.RequirePrivileges(t)
	c := NewRawChecker(rawcheck.Config{SourcePorts: [2]uint16{63600, 63631}})
	if err := c.CheckAddr("127.0.0.1:1", time.Second); err != compat.ErrCheckerNotRunning {
		t.Errorf("before CheckingLoop: %v, want compat.ErrCheckerNotRunning", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.CheckingLoop(ctx) }()
	<-c.WaitReady()
	if err := c.CheckingLoop(ctx); !errors.Is(err, compat.ErrCheckerAlreadyStarted) {
		t.Errorf("second CheckingLoop: %v, want compat.ErrCheckerAlreadyStarted", err)
	}
	for _, host := range []string{"127.0.0.1", "::1"} {
		l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		open := l.Addr().(*net.TCPAddr).AddrPort()
		cl, _ := net.Listen("tcp", net.JoinHostPort(host, "0"))
		closed := cl.Addr().(*net.TCPAddr).AddrPort()
		cl.Close()
		if err := c.CheckAddr(open.String(), 2*time.Second); err != nil {
			t.Errorf("open %v: %v, want nil", open, err)
		}
		if err := c.CheckAddr(closed.String(), 2*time.Second); !rawWantErrno(syscall.ECONNREFUSED)(err) || !errors.Is(err, syscall.ECONNREFUSED) {
			t.Errorf("closed %v: %v, want *compat.ErrConnect ECONNREFUSED", closed, err)
		}
	}
	if err := c.CheckAddr("127.0.0.1:0", time.Second); err == nil {
		t.Error("port 0 accepted")
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("CheckingLoop: %v", err)
	}
	if err := c.CheckAddr("127.0.0.1:1", time.Second); err != compat.ErrCheckerNotRunning {
		t.Errorf("after the loop: %v, want compat.ErrCheckerNotRunning", err)
	}
}

// TestRawCheckerInTestnet checks every kind of target across the test
// network through the raw engine, IPv4 and IPv6, and a target the prober
// has no route to, with the capture proving one RST per SYN-ACK and no
// ACK, and the target accepting nothing.
func TestRawCheckerInTestnet(t *testing.T) {
	n := testnet.New(t)
	l := n.Listen(t, "tcp", ":80")
	c := startRawChecker(t, rawcheck.Config{SourcePorts: [2]uint16{61000, 61063}, Timeout: 200 * time.Millisecond, Attempts: 1}, n.InProber)
	capture := pcapcheck.Start(t, n.ProberLink, n.InProber)
	first := func(p netip.Prefix) netip.Addr { return p.Addr().Next() }
	at := func(a netip.Addr, port uint16) string { return netip.AddrPortFrom(a, port).String() }
	for _, tc := range []struct {
		name, addr string
		want       func(error) bool
		timeout    time.Duration
	}{
		{"open v4", at(first(n.Answering4), 80), rawWantNil, 2 * time.Second},
		{"closed v4", at(first(n.Answering4), 81), rawWantErrno(syscall.ECONNREFUSED), 2 * time.Second},
		{"silent v4", at(first(n.Silent4), 80), rawWantTimeout, 300 * time.Millisecond},
		{"unreachable v4", at(first(n.Unreachable4), 80), rawWantErrno(syscall.EHOSTUNREACH), 2 * time.Second},
		{"open v6", at(first(n.Answering6), 80), rawWantNil, 2 * time.Second},
		{"closed v6", at(first(n.Answering6), 81), rawWantErrno(syscall.ECONNREFUSED), 2 * time.Second},
		{"silent v6", at(first(n.Silent6), 80), rawWantTimeout, 300 * time.Millisecond},
		{"unreachable v6", at(first(n.Unreachable6), 80), rawWantErrno(syscall.EHOSTUNREACH), 2 * time.Second},
		// The prober's namespace routes the test prefixes only.
		{"no route v4", "192.0.2.1:80", rawWantErrno(syscall.ENETUNREACH), 2 * time.Second},
	} {
		if err := c.CheckAddr(tc.addr, tc.timeout); !tc.want(err) {
			t.Errorf("%s (%s): %v", tc.name, tc.addr, err)
		}
	}
	time.Sleep(50 * time.Millisecond)
	rep := capture.Analyze()
	if err := rep.Err(); err != nil {
		t.Error(err)
	}
	if rep.SYNACKFlows != 2 || rep.ACKOnlySegments != 0 {
		t.Errorf("capture: %v; want 2 SYN-ACK flows, no ACK", rep)
	}
	if a := l.Accepted(); a != 0 {
		t.Errorf("the target accepted %d connections, want 0", a)
	}
}

// TestRawCheckerNoCapNetRaw: without CAP_NET_RAW, CheckingLoop fails at
// once with the engine's permission error (run by setpriv in a child, as
// rawcheck's own test does).
func TestRawCheckerNoCapNetRaw(t *testing.T) {
	const env = "COMPAT_TEST_RAW_NO_CAP"
	if os.Getenv(env) == "1" {
		err := NewRawChecker(rawcheck.Config{SourcePorts: [2]uint16{63640, 63641}}).CheckingLoop(context.Background())
		if !errors.Is(err, os.ErrPermission) {
			t.Fatalf("CheckingLoop without CAP_NET_RAW: %v, want os.ErrPermission", err)
		}
		t.Logf("CheckingLoop without CAP_NET_RAW: %v", err)
		return
	}
	testnet.RequirePrivileges(t)
	rawCapChild(t, env)
}

// rawCapChild re-runs the current test without CAP_NET_RAW, with env=1,
// and fails t if the child fails.
func rawCapChild(t *testing.T, env string) {
	t.Helper()
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		t.Skipf("setpriv (util-linux) is needed to drop CAP_NET_RAW: %v", err)
	}
	cmd := exec.Command(setpriv, "--bounding-set=-net_raw", "--inh-caps=-net_raw", "--",
		os.Args[0], "-test.run=^"+t.Name()+"$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), env+"=1")
	out, err := cmd.CombinedOutput()
	t.Logf("child without CAP_NET_RAW:\n%s", out)
	if err != nil || !strings.Contains(string(out), "PASS") {
		t.Fatalf("child: %v", err)
	}
}

// TestRawCheckerUnresolvedNeighbour checks that an on-link address nobody
// answers ARP or NDP for reads as EHOSTUNREACH, as connect() reports it,
// not as a timeout; the control is the on-link target, which answers.
func TestRawCheckerUnresolvedNeighbour(t *testing.T) {
	n := testnet.New(t)
	c := startRawChecker(t, rawcheck.Config{SourcePorts: [2]uint16{61000, 61063}, Timeout: 300 * time.Millisecond, Attempts: 2}, n.InProber)
	for _, tc := range []struct {
		name, addr string
		want       func(error) bool
	}{
		{"answering v4", netip.AddrPortFrom(n.TargetAddr4, 81).String(), rawWantErrno(syscall.ECONNREFUSED)},
		{"answering v6", netip.AddrPortFrom(n.TargetAddr6, 81).String(), rawWantErrno(syscall.ECONNREFUSED)},
		{"unresolved v4", "198.19.254.9:80", rawWantErrno(syscall.EHOSTUNREACH)},
		{"unresolved v6", "[2001:db8:ffff::9]:80", rawWantErrno(syscall.EHOSTUNREACH)},
	} {
		if err := c.CheckAddr(tc.addr, 3*time.Second); !tc.want(err) {
			t.Errorf("%s (%s): %v", tc.name, tc.addr, err)
		}
	}
}
