package compat

import (
	"context"
	"net"
	"os"
	"strconv"
	"testing"
	"time"
)

// runLoop starts c's checking loop, waits until it is ready, and stops it
// (checking that it returned nil) when the test ends.
func runLoop(t testing.TB, c *Checker) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ended := make(chan error, 1)
	go func() { ended <- c.CheckingLoop(ctx) }()
	select {
	case <-c.WaitReady():
	case err := <-ended:
		cancel()
		t.Fatalf("CheckingLoop returned before ready: %v", err)
	}
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-ended:
			if err != nil {
				t.Errorf("CheckingLoop returned %v after cancel, want nil", err)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("CheckingLoop did not return within 10s of cancel")
		}
	})
}

// startedChecker returns a NewChecker whose loop runs for the test.
func startedChecker(t testing.TB) *Checker {
	t.Helper()
	c := NewChecker()
	runLoop(t, c)
	return c
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
