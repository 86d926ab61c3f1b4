package compat

import (
	"context"
	"os"
	"os/signal"
	"sync"
	"syscall"
)

var (
	defaultOnce    sync.Once
	defaultChecker *Checker
)

// DefaultChecker returns a process-wide Checker whose loop is already
// running and ready (made on first use). The loop stops when the process
// receives SIGINT or SIGTERM; that first signal is taken by the loop
// (the default handling is restored then, so a second one acts as usual).
// If the loop cannot start, checks return ErrCheckerNotRunning.
func DefaultChecker() *Checker {
	defaultOnce.Do(func() {
		c := NewChecker()
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		ended := make(chan struct{})
		go func() {
			defer close(ended)
			defer stop()
			c.CheckingLoop(ctx)
		}()
		select {
		case <-c.WaitReady():
		case <-ended:
		}
		defaultChecker = c
	})
	return defaultChecker
}
