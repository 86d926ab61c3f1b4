package epollcheck

import (
	"context"
	"net/netip"
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
