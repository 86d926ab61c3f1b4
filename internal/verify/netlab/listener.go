package netlab

import (
	"net"
	"os"
	"sync"
	"syscall"
	"time"
)

// Listener is a TCP listener in the target namespace, made by Net.Listen.
// It accepts connections in a goroutine, counts them and closes them at
// once: a prober that never completes the handshake leaves Accepted at 0.
type Listener struct {
	f    *os.File        // the listening socket
	rc   syscall.RawConn // f's, for accept and getsockopt
	addr net.Addr

	mu       sync.Mutex // held across each accept and its count
	accepted int64
	done     chan struct{} // closed when the accepting goroutine ends
	close    sync.Once
}

// Accepted returns how many connections completed the handshake with the
// listener: those the target application accepted plus those still
// waiting in the kernel's accept queue. So a check that completed a
// handshake is counted as soon as the target's kernel has it, with no
// race against the accepting goroutine.
func (l *Listener) Accepted() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.accepted + l.queued()
}

// WaitAccepted waits up to timeout for Accepted to reach at least n and
// returns the count then. A negative control that completes handshakes
// should wait for them: the final ACK may still be on its way.
func (l *Listener) WaitAccepted(n int64, timeout time.Duration) int64 {
	deadline := time.Now().Add(timeout)
	for {
		got := l.Accepted()
		if got >= n || time.Now().After(deadline) {
			return got
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Addr returns the address the listener is bound to.
func (l *Listener) Addr() net.Addr { return l.addr }

// Close stops the listener and waits for its accepting goroutine to end.
// It may be called more than once. Accepted keeps returning the count
// reached.
func (l *Listener) Close() error {
	var err error
	l.close.Do(func() {
		err = l.f.Close()
		<-l.done
	})
	return err
}
