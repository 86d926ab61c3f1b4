package netlab

import (
	"net"
	"net/netip"
	"testing"
	"time"
)

// Accepted counts a completed handshake while it still waits in the accept
// queue, so a test that expects 0 cannot miss one the accepting goroutine
// has not reached yet.
func TestAcceptedCountsQueue(t *testing.T) {
	t.Parallel()
	n := newTestNet(t)
	l, err := n.listen("tcp", ":7")
	if err != nil {
		t.Fatal(err)
	}
	defer l.f.Close() // serve is not running: nothing accepts
	if got := l.Accepted(); got != 0 {
		t.Fatalf("Accepted = %d before any connection", got)
	}
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for i := range 2 {
		err := n.InProber(func() error {
			c, err := net.DialTimeout("tcp", netip.AddrPortFrom(n.Answering4.Addr().Next(), 7).String(), 5*time.Second)
			if err == nil {
				conns = append(conns, c)
			}
			return err
		})
		if err != nil {
			t.Fatalf("dial %d: %v", i, err)
		}
	}
	// The client's connect returns once it sent the ACK; wait for the
	// target's kernel to queue the connection.
	deadline := time.Now().Add(5 * time.Second)
	for l.Accepted() < 2 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if got := l.Accepted(); got != 2 {
		t.Fatalf("Accepted = %d with two connections queued, want 2", got)
	}
	l.mu.Lock()
	app := l.accepted
	l.mu.Unlock()
	if app != 0 {
		t.Fatalf("application accepted %d without serve running", app)
	}
	l.done = make(chan struct{})
	go l.serve()
	deadline = time.Now().Add(5 * time.Second)
	for {
		l.mu.Lock()
		app, q := l.accepted, l.queued()
		l.mu.Unlock()
		if app == 2 && q == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after serve: accepted %d, queued %d; want 2 and 0", app, q)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if got := l.Accepted(); got != 2 {
		t.Errorf("Accepted = %d after the accepts, want 2 (no double count)", got)
	}
	if err := l.Close(); err != nil {
		t.Error(err)
	}
	if got := l.Accepted(); got != 2 {
		t.Errorf("Accepted = %d after Close, want 2", got)
	}
}
