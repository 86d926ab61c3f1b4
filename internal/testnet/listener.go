package testnet

import (
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Listener is a TCP listener in the target namespace, made by Net.Listen.
// It accepts connections in a goroutine, counts them and closes them at
// once: a prober that never completes the handshake leaves Accepted at 0.
type Listener struct {
	ln       net.Listener
	accepted atomic.Int64
	done     chan struct{}
	close    sync.Once
}

// Accepted returns how many connections the target application has
// accepted so far.
func (l *Listener) Accepted() int64 { return l.accepted.Load() }

// WaitAccepted waits up to timeout for Accepted to reach at least n and
// returns the count then. A completed handshake waits in the kernel's
// accept queue until the accepting goroutine takes it, so a test that
// expects accepted connections (a negative control) should wait for them.
func (l *Listener) WaitAccepted(n int64, timeout time.Duration) int64 {
	deadline := time.Now().Add(timeout)
	for {
		got := l.accepted.Load()
		if got >= n || time.Now().After(deadline) {
			return got
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Addr returns the address the listener is bound to.
func (l *Listener) Addr() net.Addr { return l.ln.Addr() }

// Close stops the listener and waits for its accepting goroutine to end.
// It is called in t.Cleanup; calling it earlier is allowed.
func (l *Listener) Close() error {
	var err error
	l.close.Do(func() {
		err = l.ln.Close()
		<-l.done
	})
	return err
}

// serve accepts connections until the listener is closed.
func (l *Listener) serve() {
	defer close(l.done)
	for {
		c, err := l.ln.Accept()
		if err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				continue
			}
			return
		}
		l.accepted.Add(1)
		c.Close()
	}
}
