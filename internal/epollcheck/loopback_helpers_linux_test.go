package epollcheck

import (
	"context"
	"net"
	"net/netip"
	"os"
	"strconv"
	"testing"
	"time"
)

// runServe starts e's Serve, waits until it is ready, and stops it
// (checking that it returned nil) when the test ends.
func runServe(t testing.TB, e *Engine) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan struct{})
	ended := make(chan error, 1)
	go func() { ended <- e.Serve(ctx, func(int) { close(ready) }) }()
	select {
	case <-ready:
	case err := <-ended:
		cancel()
		t.Fatalf("Serve returned before ready: %v", err)
	}
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-ended:
			if err != nil {
				t.Errorf("Serve returned %v after cancel, want nil", err)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("Serve did not return within 10s of cancel")
		}
	})
}

// startedEngine returns an Engine that serves for the test.
func startedEngine(t testing.TB) *Engine {
	t.Helper()
	e := New()
	runServe(t, e)
	return e
}

// checkAddr checks addr ("ip:port") with zero linger within timeout.
func checkAddr(e *Engine, addr string, timeout time.Duration) Outcome {
	return e.Check(netip.MustParseAddrPort(addr), time.Now().Add(timeout), true)
}

// listenOpen returns a listening loopback TCP listener on network
// ("tcp4" or "tcp6"), closed at the end of the test.
func listenOpen(t testing.TB, network string) *net.TCPListener {
	t.Helper()
	host := "127.0.0.1"
	if network == "tcp6" {
		host = "::1"
	}
	l, err := net.Listen(network, net.JoinHostPort(host, "0"))
	if err != nil {
		t.Fatalf("listen %s: %v", network, err)
	}
	t.Cleanup(func() { l.Close() })
	return l.(*net.TCPListener)
}

// closedPort returns a loopback address whose port is bound but not
// listening: the kernel answers SYNs to it with RST, and connect's
// ephemeral port choice never lands on it while the test runs.
func closedPort(t testing.TB, network string) string {
	t.Helper()
	host := "127.0.0.1"
	if network == "tcp6" {
		host = "::1"
	}
	addr, closeFn, err := bindNotListen(network, host)
	if err != nil {
		t.Fatalf("bind %s: %v", network, err)
	}
	t.Cleanup(closeFn)
	return addr
}

// fdCount returns how many fds the process has open.
func fdCount(t testing.TB) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatalf("count fds: %v", err)
	}
	return len(ents)
}

// hostPort joins a host and a port number.
func hostPort(host string, port int) string { return net.JoinHostPort(host, strconv.Itoa(port)) }
