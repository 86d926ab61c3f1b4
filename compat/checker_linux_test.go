package compat

import (
	"context"
	"errors"
	"net"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/rawprobe/rawprobe/internal/verify/loopback"
)

// These tests run on loopback and need no privileges: an open port is a
// listener, a closed port is a bound, non-listening socket (answered with
// RST), and a silent port is a listener whose accept queue is full (SYNs
// dropped). The test-network proofs are in testnet_linux_test.go.

func TestCheckOpen(t *testing.T) {
	c := startedChecker(t)
	for _, network := range []string{"tcp4", "tcp6"} {
		l := loopback.Listen(t, network)
		if err := c.CheckAddr(l.Addr().String(), 2*time.Second); err != nil {
			t.Errorf("%s open port %s: got %v, want nil", network, l.Addr(), err)
		}
		// The handshake was never completed: nothing to accept.
		l.SetDeadline(time.Now().Add(100 * time.Millisecond))
		if conn, err := l.Accept(); err == nil {
			conn.Close()
			t.Errorf("%s: the listener accepted a connection from a zero-linger check", network)
		}
	}
}

// TestCheckNoZeroLingerCompletes is the negative control of TestCheckOpen:
// without zero linger, close sends FIN, which completes the handshake, and
// the listener does get a connection. It shows the accept probe above can
// see one.
func TestCheckNoZeroLingerCompletes(t *testing.T) {
	c := NewCheckerZeroLinger(false)
	runLoop(t, c)
	l := loopback.Listen(t, "tcp4")
	if err := c.CheckAddr(l.Addr().String(), 2*time.Second); err != nil {
		t.Fatalf("open port: got %v, want nil", err)
	}
	l.SetDeadline(time.Now().Add(2 * time.Second))
	conn, err := l.Accept()
	if err != nil {
		t.Fatalf("no connection accepted after a check without zero linger: %v", err)
	}
	conn.Close()
}

func TestCheckClosed(t *testing.T) {
	c := startedChecker(t)
	for _, network := range []string{"tcp4", "tcp6"} {
		addr := loopback.ClosedPort(t, network)
		err := c.CheckAddr(addr, 2*time.Second)
		var ce *ErrConnect
		if !errors.As(err, &ce) {
			t.Fatalf("%s closed port %s: got %v (%T), want *ErrConnect", network, addr, err, err)
		}
		if ce.ErrorCode() != int(syscall.ECONNREFUSED) || !errors.Is(err, syscall.ECONNREFUSED) {
			t.Errorf("%s closed port: ErrorCode %d, errors.Is ECONNREFUSED %v; want %d, true",
				network, ce.ErrorCode(), errors.Is(err, syscall.ECONNREFUSED), syscall.ECONNREFUSED)
		}
	}
}

func TestCheckTimeout(t *testing.T) {
	c := startedChecker(t)
	for _, network := range []string{"tcp4", "tcp6"} {
		addr := loopback.SilentListener(t, network)
		start := time.Now()
		err := c.CheckAddr(addr, 200*time.Millisecond)
		if err != ErrTimeout {
			t.Fatalf("%s silent port: got %v, want ErrTimeout", network, err)
		}
		if elapsed := time.Since(start); elapsed < 200*time.Millisecond {
			t.Errorf("%s: ErrTimeout after %v, before the 200ms timeout", network, elapsed)
		}
	}
	var ne net.Error
	if !errors.As(ErrTimeout, &ne) || !ne.Timeout() || !errors.Is(ErrTimeout, os.ErrDeadlineExceeded) {
		t.Errorf("ErrTimeout is not a net.Error with Timeout() true matching os.ErrDeadlineExceeded")
	}
}

func TestCheckHostname(t *testing.T) {
	c := startedChecker(t)
	l := loopback.Listen(t, "tcp4")
	port := l.Addr().(*net.TCPAddr).Port
	if err := c.CheckAddr(loopback.HostPort("localhost", port), 2*time.Second); err != nil {
		t.Errorf("localhost open port: got %v, want nil", err)
	}
	addr := loopback.ClosedPort(t, "tcp4")
	_, p, _ := net.SplitHostPort(addr)
	if err := c.CheckAddr("localhost:"+p, 2*time.Second); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("localhost closed port: got %v, want ECONNREFUSED", err)
	}
	if err := c.CheckAddr("no-such-host.invalid:80", 2*time.Second); err == nil || err == ErrTimeout {
		t.Errorf("unresolvable name: got %v, want a resolution error", err)
	}
}

func TestCheckNotRunning(t *testing.T) {
	c := NewChecker()
	l := loopback.Listen(t, "tcp4")
	if err := c.CheckAddr(l.Addr().String(), time.Second); !errors.Is(err, ErrCheckerNotRunning) {
		t.Errorf("check before CheckingLoop: got %v, want ErrCheckerNotRunning", err)
	}
	if c.IsReady() || c.PollerFd() != -1 {
		t.Errorf("before start: IsReady %v PollerFd %d, want false -1", c.IsReady(), c.PollerFd())
	}
}

func TestLoopRestartAndDoubleStart(t *testing.T) {
	c := NewChecker()
	l := loopback.Listen(t, "tcp4")
	for round := range 3 {
		ctx, cancel := context.WithCancel(context.Background())
		ended := make(chan error, 1)
		go func() { ended <- c.CheckingLoop(ctx) }()
		select {
		case <-c.WaitReady():
		case <-time.After(5 * time.Second):
			t.Fatalf("round %d: not ready after 5s", round)
		}
		if !c.IsReady() || c.PollerFd() < 0 || c.PollerFd() != c.PollerFDAtomic() {
			t.Errorf("round %d: IsReady %v PollerFd %d PollerFDAtomic %d", round, c.IsReady(), c.PollerFd(), c.PollerFDAtomic())
		}
		if err := c.CheckingLoop(ctx); !errors.Is(err, ErrCheckerAlreadyStarted) {
			t.Errorf("round %d: second CheckingLoop: got %v, want ErrCheckerAlreadyStarted", round, err)
		}
		if err := c.CheckAddr(l.Addr().String(), 2*time.Second); err != nil {
			t.Errorf("round %d: open port: %v", round, err)
		}
		cancel()
		if err := <-ended; err != nil {
			t.Errorf("round %d: CheckingLoop returned %v, want nil", round, err)
		}
		if c.IsReady() || c.PollerFd() != -1 {
			t.Errorf("round %d after stop: IsReady %v PollerFd %d", round, c.IsReady(), c.PollerFd())
		}
		select {
		case <-c.WaitReady():
			t.Errorf("round %d: WaitReady closed while stopped", round)
		default:
		}
	}
}

// TestCancelEndsWaitingChecks cancels the loop while checks wait for a
// silent port with a long timeout: they must end at once with
// ErrCheckerNotRunning, and their sockets must be closed.
func TestCancelEndsWaitingChecks(t *testing.T) {
	silent := loopback.SilentListener(t, "tcp4")
	baseFds := loopback.FdCount(t)
	c := NewChecker()
	ctx, cancel := context.WithCancel(context.Background())
	ended := make(chan error, 1)
	go func() { ended <- c.CheckingLoop(ctx) }()
	<-c.WaitReady()
	const n = 50
	results := make(chan error, n)
	for range n {
		go func() { results <- c.CheckAddr(silent, time.Minute) }()
	}
	time.Sleep(200 * time.Millisecond) // let them register
	start := time.Now()
	cancel()
	for range n {
		select {
		case err := <-results:
			if !errors.Is(err, ErrCheckerNotRunning) {
				t.Errorf("waiting check after cancel: got %v, want ErrCheckerNotRunning", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("a waiting check did not return within 10s of cancel")
		}
	}
	if err := <-ended; err != nil {
		t.Errorf("CheckingLoop: %v", err)
	}
	t.Logf("%d waiting checks ended %v after cancel", n, time.Since(start))
	if got := loopback.FdCount(t); got != baseFds {
		t.Errorf("fds: %d after the loop stopped, %d before it started", got, baseFds)
	}
}

func TestMalformedAddresses(t *testing.T) {
	rec := &recordingBackend{}
	c := NewCheckerWithBackend(rec, true)
	runLoop(t, c)
	for _, addr := range []string{
		"", "nonsense", "1.2.3.4", "1.2.3.4:99999", "1.2.3.4:0", "1.2.3.4:-1",
		":80", "[::1]", "[::1:80", "0.0.0.0:80", "[::]:80", "224.0.0.1:80",
		"1.2.3.4:nosuchservice", "host:port:extra",
	} {
		err := c.CheckAddr(addr, time.Second)
		var ce *ErrConnect
		if err == nil || err == ErrTimeout || errors.As(err, &ce) || errors.Is(err, ErrCheckerNotRunning) {
			t.Errorf("CheckAddr(%q): got %v, want a malformed-address error", addr, err)
			continue
		}
		t.Logf("CheckAddr(%q): %v", addr, err)
	}
	if err := c.CheckAddr("127.0.0.1:80", 0); err == nil || err == ErrTimeout {
		t.Errorf("zero timeout: got %v, want an error naming the timeout", err)
	}
	if n := rec.calls.Load(); n != 0 {
		t.Errorf("the engine was asked to probe %d times for malformed input; want 0 (nothing sent)", n)
	}
	// Negative control: well-formed input does reach the engine, and a
	// service name is accepted.
	for _, addr := range []string{"127.0.0.1:80", "[::1]:80", "[::ffff:127.0.0.1]:80", "127.0.0.1:http"} {
		if err := c.CheckAddr(addr, time.Second); err != nil {
			t.Errorf("CheckAddr(%q) through the recording engine: %v", addr, err)
		}
	}
	if n := rec.calls.Load(); n != 4 {
		t.Errorf("engine calls for 4 well-formed addresses: %d", n)
	}
	if got := rec.last.Load(); got == nil || got.String() != "127.0.0.1:80" {
		t.Errorf("last target %v, want 127.0.0.1:80 (service http, ::ffff: unmapped)", got)
	}
}
