package compat

import (
	"context"
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
