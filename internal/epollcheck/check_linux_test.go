package epollcheck

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"syscall"
	"testing"
	"time"

	"github.com/rawprobe/rawprobe/internal/verify/loopback"
)

// TestCheckLoopback checks the outcome of each kind of loopback target,
// IPv4 and IPv6: a listener is Open and accepts nothing, a bound port
// without listener is Refused, a listener with a full accept queue times
// out (not before the deadline). An IPv4-mapped address is checked as
// IPv4.
func TestCheckLoopback(t *testing.T) {
	c := startedEngine(t)
	for _, network := range []string{"tcp4", "tcp6"} {
		l := loopback.Listen(t, network)
		if o := checkAddr(c, l.Addr().String(), 2*time.Second); o != (Outcome{Kind: Open}) {
			t.Errorf("%s open port: %+v, want Open", network, o)
		}
		l.SetDeadline(time.Now().Add(100 * time.Millisecond))
		if conn, err := l.Accept(); err == nil {
			conn.Close()
			t.Errorf("%s: the listener accepted a connection from a zero-linger check", network)
		}
		if o := checkAddr(c, loopback.ClosedPort(t, network), 2*time.Second); o != (Outcome{Kind: Refused, Errno: syscall.ECONNREFUSED}) {
			t.Errorf("%s closed port: %+v, want Refused with ECONNREFUSED", network, o)
		}
		start := time.Now()
		if o := checkAddr(c, loopback.SilentListener(t, network), 200*time.Millisecond); o != (Outcome{Kind: Timeout}) {
			t.Errorf("%s silent port: %+v, want Timeout", network, o)
		} else if d := time.Since(start); d < 200*time.Millisecond {
			t.Errorf("%s: Timeout after %v, before the 200ms deadline", network, d)
		}
	}
	port := loopback.Listen(t, "tcp4").Addr().(*net.TCPAddr).Port
	mapped := netip.AddrPortFrom(netip.MustParseAddr("::ffff:127.0.0.1"), uint16(port))
	if o := c.Check(mapped, time.Now().Add(2*time.Second), true); o.Kind != Open {
		t.Errorf("IPv4-mapped %v: %+v, want Open", mapped, o)
	}
	zoned := netip.AddrPortFrom(netip.MustParseAddr("fe80::1%no-such-interface0"), 80)
	var oe *net.OpError
	if o := c.Check(zoned, time.Now().Add(time.Second), true); o.Kind != LocalError || !errors.As(o.Err, &oe) {
		t.Errorf("unknown zone: %+v, want a LocalError with a *net.OpError", o)
	}
}

// TestCheckStopped: a check before Serve and after its return is Stopped
// and sends nothing; one during Serve is not (the control).
func TestCheckStopped(t *testing.T) {
	addr := loopback.Listen(t, "tcp4").Addr().String()
	c := New()
	if o := checkAddr(c, addr, time.Second); o.Kind != Stopped || o.Err != ErrStopped {
		t.Errorf("before Serve: %+v, want Stopped", o)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan struct{})
	ended := make(chan error, 1)
	go func() { ended <- c.Serve(ctx, func(fd int) { close(ready) }) }()
	<-ready
	if o := checkAddr(c, addr, 2*time.Second); o.Kind != Open {
		t.Errorf("while serving: %+v, want Open", o)
	}
	cancel()
	if err := <-ended; err != nil {
		t.Errorf("Serve: %v", err)
	}
	if o := checkAddr(c, addr, time.Second); o.Kind != Stopped {
		t.Errorf("after Serve: %+v, want Stopped", o)
	}
}

// TestCancelEndsWaitingChecks cancels Serve while checks wait for a silent
// port with a long deadline: they must end at once as Stopped, and their
// sockets must be closed.
func TestCancelEndsWaitingChecks(t *testing.T) {
	silent := loopback.SilentListener(t, "tcp4")
	baseFds := loopback.FdCount(t)
	c := New()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan struct{})
	ended := make(chan error, 1)
	go func() { ended <- c.Serve(ctx, func(int) { close(ready) }) }()
	<-ready
	const n = 50
	results := make(chan Outcome, n)
	for range n {
		go func() { results <- checkAddr(c, silent, time.Minute) }()
	}
	time.Sleep(200 * time.Millisecond) // let them register
	cancel()
	for range n {
		select {
		case o := <-results:
			if o.Kind != Stopped {
				t.Errorf("waiting check after cancel: %+v, want Stopped", o)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("a waiting check did not return within 10s of cancel")
		}
	}
	if err := <-ended; err != nil {
		t.Errorf("Serve: %v", err)
	}
	if got := loopback.FdCount(t); got != baseFds {
		t.Errorf("fds: %d after Serve returned, %d before it started", got, baseFds)
	}
}
