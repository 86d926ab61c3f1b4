package epollcheck

import (
	"net/netip"
	"testing"
	"time"
)

// runServe starts e's Serve, waits until it is ready, and stops it
// (checking that it returned nil) when the test ends.
func runServe(t testing.TB, e *Engine) {
	t.Helper()
	serveUntil(t, e)
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
