package main

import (
	"context"
	"os"
	"sync"
	"syscall"
)

// interruption is what SIGINT and SIGTERM do to a scan: the first closes
// stop (no new target is sent; the replies in flight are drained), the
// second cancels the scan's context (the drain is cut short). With
// stopAtOnce (--wait, which keeps no resume state, and the subcommands
// that simply stop) the first does both.
type interruption struct {
	stop   chan struct{}
	cancel context.CancelFunc
	done   chan struct{}
	mu     sync.Mutex
	sig    os.Signal // the first signal, nil before it
}

// watchSignals returns ctx, cancelled at the second signal from signals,
// and the interruption that records the first. signals may be nil.
func watchSignals(ctx context.Context, signals <-chan os.Signal, stopAtOnce bool) (context.Context, *interruption) {
	ctx, cancel := context.WithCancel(ctx)
	in := &interruption{stop: make(chan struct{}), cancel: cancel, done: make(chan struct{})}
	go func() {
		select {
		case sig := <-signals:
			in.mu.Lock()
			in.sig = sig
			in.mu.Unlock()
			close(in.stop)
			if stopAtOnce {
				cancel()
				return
			}
		case <-in.done:
			return
		}
		select {
		case <-signals:
			cancel()
		case <-in.done:
		}
	}()
	return ctx, in
}

// signal returns the first signal received, nil if none was.
func (in *interruption) signal() os.Signal {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.sig
}

// close stops watching for signals.
func (in *interruption) close() {
	close(in.done)
	in.cancel()
}

// signalName names SIGINT and SIGTERM as the shell does.
func signalName(sig os.Signal) string {
	switch sig {
	case os.Interrupt:
		return "SIGINT"
	case syscall.SIGTERM:
		return "SIGTERM"
	}
	return sig.String()
}
