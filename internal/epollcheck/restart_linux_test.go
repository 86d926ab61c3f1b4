package epollcheck

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rawprobe/rawprobe/internal/verify/loopback"

	"golang.org/x/sys/unix"
)

// pause holds the first goroutine that reaches a hook point while it is
// armed, until the test releases it.
type pause struct {
	armed   atomic.Bool
	paused  chan struct{}
	release chan struct{}
	once    sync.Once
}

func newPause() *pause { return &pause{paused: make(chan struct{}), release: make(chan struct{})} }

func (p *pause) at() {
	if p.armed.CompareAndSwap(true, false) {
		close(p.paused)
		<-p.release
	}
}

func (p *pause) let() { p.once.Do(func() { close(p.release) }) }

// wait waits until a goroutine is held at p.
func (p *pause) wait(t *testing.T, what string) {
	t.Helper()
	select {
	case <-p.paused:
	case <-time.After(5 * time.Second):
		t.Fatalf("%s never reached its hook point", what)
	}
}

// installHook makes the hook points hold goroutines at the pauses given
// and removes the hook, releasing everyone, when the test ends.
func installHook(t *testing.T, pauses map[hookPoint]*pause) {
	hook := func(p hookPoint) {
		if ps := pauses[p]; ps != nil {
			ps.at()
		}
	}
	testHook.Store(&hook)
	t.Cleanup(func() {
		testHook.Store(nil)
		for _, p := range pauses {
			p.let()
		}
	})
}

// serveUntil runs e.Serve until the returned stop is called; stop waits
// for Serve to return. It returns the ready callback's epoll fd.
func serveUntil(t testing.TB, e *Engine) (epfd int, stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan int, 1)
	ended := make(chan error, 1)
	go func() { ended <- e.Serve(ctx, func(fd int) { ready <- fd }) }()
	select {
	case epfd = <-ready:
	case err := <-ended:
		cancel()
		t.Fatalf("Serve returned before ready: %v", err)
	}
	var once sync.Once
	stop = func() {
		once.Do(func() {
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
	t.Cleanup(stop)
	return epfd, stop
}

// TestRestartedLoopKeepsItsEvents proves that a check of a stopped run of
// the engine leaves the fds of that run alone: the kernel gives the next
// run's epoll instance the same fd number, and a late poll of the old
// number would take the new run's events. An old check is held just before
// its last poll while the loop is stopped and restarted; a new check's
// SYN-ACK is then made to wait in the new epoll instance, with the new
// loop and the new check held before their polls, and the old check is let
// go first. The new check must still see its SYN-ACK (Open); had the old
// check polled, the one-shot event would be gone and the new check would
// time out, its socket left to the kernel's delayed ACK.
func TestRestartedLoopKeepsItsEvents(t *testing.T) {
	e := New()
	e.shards = 1
	addr, lfd := loopback.FullListener(t, "tcp4")
	oldLast, newFirst, newLoop := newPause(), newPause(), newPause()
	installHook(t, map[hookPoint]*pause{
		hookCheckLastPoll:  oldLast,
		hookCheckFirstPoll: newFirst,
		hookLoopPoll:       newLoop,
	})

	// The old check times out and is held before its last poll.
	oldEpfd, stopOld := serveUntil(t, e)
	oldLast.armed.Store(true)
	oldDone := make(chan Outcome, 1)
	go func() { oldDone <- checkAddr(e, addr, 50*time.Millisecond) }()
	oldLast.wait(t, "the old check")
	stopOld()

	newEpfd, _ := serveUntil(t, e)
	if newEpfd != oldEpfd {
		t.Fatalf("the restarted loop's epoll fd is %d, the stopped one's was %d: the test needs the number reused", newEpfd, oldEpfd)
	}
	s := runningOf(t, e).shards[0]

	// The new check registers; it and the new loop are held before they
	// poll.
	newLoop.armed.Store(true)
	newFirst.armed.Store(true)
	newDone := make(chan Outcome, 1)
	go func() { newDone <- checkAddr(e, addr, 5*time.Second) }()
	newFirst.wait(t, "the new check")
	newLoop.wait(t, "the new loop")
	var buf [8]byte
	unix.Read(s.evfd, buf[:]) // a wake-up, if any: the epoll fd is then ready only for the check's socket
	if sl := s.slots.get(0); sl == nil || uint32(sl.state.Load()) != phaseArmed {
		t.Fatal("the new check is not armed in slot 0")
	}

	// Make room in the accept queue: the retransmitted SYN (after about
	// a second) is answered, and the new check's event waits.
	nfd, _, err := unix.Accept(lfd)
	if err != nil {
		t.Fatal(err)
	}
	unix.Close(nfd)
	fds := []unix.PollFd{{Fd: int32(newEpfd), Events: unix.POLLIN}}
	if n, err := unix.Poll(fds, 4000); n != 1 || err != nil {
		t.Fatalf("no event for the new check in the new epoll instance: poll = %d, %v", n, err)
	}

	// The old check goes first.
	oldLast.let()
	if o := <-oldDone; o.Kind != Timeout {
		t.Errorf("old check: %+v, want Timeout", o)
	}
	newFirst.let()
	newLoop.let()
	select {
	case o := <-newDone:
		if o.Kind != Open {
			t.Fatalf("new check: %+v, want Open: its event was taken by the old check", o)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the new check did not return")
	}
}
