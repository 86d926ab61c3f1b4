package compat

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// newDefaultBackend returns the epoll engine.
func newDefaultBackend() backend { return &epollBackend{} }

// epollBackend is the Linux engine: per check a non-blocking socket whose
// connect is watched, edge-triggered and one-shot, by one of a few epoll
// instances ("shards"), each served by a loop goroutine locked to its
// thread. The loop closes a socket the moment its event arrives, so the
// RST leaves long before the kernel's delayed-ACK timer fires, however
// late the waiting goroutine runs. Timeouts are enforced by the loops too:
// no timer or channel is allocated per check.
type epollBackend struct {
	// shards is the number of epoll instances and loop threads; 0 means
	// defaultShards().
	shards int
	cur    atomic.Pointer[epollEngine] // the running engine, nil when stopped
}

// defaultShards is one epoll instance per two CPUs available to Go,
// at least one: the loops spread epoll_ctl contention without taking
// every CPU away from the goroutines that create sockets.
func defaultShards() int { return max(1, runtime.GOMAXPROCS(0)/2) }

// epollEngine is one run of the engine, from serve's start to its return.
type epollEngine struct {
	shards []*shard
}

func (b *epollBackend) serve(ctx context.Context, ready func(pollerFd int)) error {
	n := b.shards
	if n <= 0 {
		n = defaultShards()
	}
	e := &epollEngine{}
	for range n {
		s, err := newShard()
		if err != nil {
			for _, s := range e.shards {
				s.closeFds()
			}
			return err
		}
		e.shards = append(e.shards, s)
	}
	var wg sync.WaitGroup
	for _, s := range e.shards {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.loop()
		}()
	}
	b.cur.Store(e)
	ready(e.shards[0].epfd)
	<-ctx.Done()
	b.cur.Store(nil)
	for _, s := range e.shards {
		s.stop()
	}
	wg.Wait()
	return nil
}

func (b *epollBackend) check(target netip.AddrPort, deadline time.Time, zeroLinger bool) error {
	e := b.cur.Load()
	if e == nil {
		return ErrCheckerNotRunning
	}
	var scope uint32
	family := unix.AF_INET
	if target.Addr().Is6() {
		family = unix.AF_INET6
		var err error
		if scope, err = zoneIndex(target.Addr().Zone()); err != nil {
			return badInput(target.String(), "unknown IPv6 zone: "+err.Error())
		}
	}
	fd, err := openCheckSocket(family, zeroLinger)
	if err != nil {
		return opError("dial", target, err)
	}
	// connect before registering: registering first would report the
	// unconnected socket writable at once. An answer that arrives before
	// epoll_ctl ADD is not lost: ADD reports an fd that is already ready.
	switch errno := connectTo(fd, target, scope); errno {
	case unix.EINPROGRESS:
	case 0:
		unix.Close(fd)
		return nil
	case unix.EINTR:
		// The connect goes on in the background; wait for it as usual.
	default:
		unix.Close(fd)
		return &ErrConnect{Addr: target.String(), Errno: errno}
	}
	return e.shards[fd%len(e.shards)].await(fd, target, monoOf(deadline))
}

// shard is one epoll instance, its loop, and the slots of the checks it
// watches.
type shard struct {
	epfd int
	evfd int // eventfd that wakes the loop (to stop, or from an idle sleep)

	// mu is held for reading while a check registers, and for writing
	// when the loop shuts down; open says whether registering is allowed.
	// Holding it keeps epfd from being closed under a registering check.
	mu   sync.RWMutex
	open bool

	pending  atomic.Int64 // checks registered and not yet completed
	sleeping atomic.Bool  // the loop waits without a timeout: wake it via evfd
	stopping atomic.Bool

	slots slotTable
}

// Loop tuning.
const (
	eventBatch = 1024                 // events read per epoll_wait
	scanEvery  = 2 * time.Millisecond // longest wait while checks are pending: timeout accuracy
	evfdMarker = ^uint32(0)           // slot index that marks the eventfd's event
)

func newShard() (*shard, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, opError("epoll_create1", netip.AddrPort{}, os.NewSyscallError("epoll_create1", err))
	}
	evfd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		unix.Close(epfd)
		return nil, opError("eventfd", netip.AddrPort{}, os.NewSyscallError("eventfd", err))
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN}
	setEventData(&ev, evfdMarker, 0)
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, evfd, &ev); err != nil {
		unix.Close(epfd)
		unix.Close(evfd)
		return nil, opError("epoll_ctl", netip.AddrPort{}, os.NewSyscallError("epoll_ctl", err))
	}
	return &shard{epfd: epfd, evfd: evfd, open: true}, nil
}

func (s *shard) closeFds() {
	unix.Close(s.epfd)
	unix.Close(s.evfd)
}

// setEventData stores a slot index and generation in the event's 64 data
// bits (the Fd and Pad fields of x/sys's EpollEvent).
func setEventData(ev *unix.EpollEvent, index, gen uint32) {
	ev.Fd = int32(index)
	ev.Pad = int32(gen)
}

// eventData reads what setEventData stored.
func eventData(ev *unix.EpollEvent) (index, gen uint32) {
	return uint32(ev.Fd), uint32(ev.Pad)
}

// wake makes the loop return from epoll_wait.
func (s *shard) wake() {
	var one = [8]byte{1}
	unix.Write(s.evfd, one[:])
}

// stop asks the loop to finish; it sweeps and closes everything itself.
func (s *shard) stop() {
	s.stopping.Store(true)
	s.wake()
}

// await registers the connecting socket fd with the shard and waits for
// its outcome. The fd belongs to await from the start: it is closed on
// every path, by await or by the loop.
func (s *shard) await(fd int, target netip.AddrPort, deadline int64) error {
	s.mu.RLock()
	if !s.open {
		s.mu.RUnlock()
		unix.Close(fd)
		return ErrCheckerNotRunning
	}
	sl := s.slots.acquire()
	if sl == nil {
		s.mu.RUnlock()
		unix.Close(fd)
		return opError("dial", target, errors.New("compat: too many checks in flight"))
	}
	gen := uint32(sl.state.Load()>>32) + 1
	sl.fd = int32(fd)
	sl.deadline.Store(deadline)
	sl.state.Store(packState(gen, phaseRegistering))
	s.pending.Add(1)
	if s.sleeping.Load() && s.sleeping.CompareAndSwap(true, false) {
		s.wake()
	}
	ev := unix.EpollEvent{Events: unix.EPOLLOUT | unix.EPOLLET | unix.EPOLLONESHOT}
	setEventData(&ev, sl.index, gen)
	if err := unix.EpollCtl(s.epfd, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
		s.mu.RUnlock()
		// No event can come for an fd that was not added, so the slot
		// is still ours.
		sl.state.Store(packState(gen, phaseIdle))
		s.pending.Add(-1)
		unix.Close(fd)
		s.slots.release(sl)
		return opError("dial", target, os.NewSyscallError("epoll_ctl", err))
	}
	// From here the loop may time the check out. If it has already
	// completed it on an event, the swap fails and done is signalled.
	sl.state.CompareAndSwap(packState(gen, phaseRegistering), packState(gen, phaseArmed))
	s.mu.RUnlock()

	<-sl.done
	result := sl.result
	sl.state.Store(packState(gen, phaseIdle))
	s.slots.release(sl)
	switch result {
	case 0:
		return nil
	case resultTimeout:
		return ErrTimeout
	case resultStopped:
		return ErrCheckerNotRunning
	}
	return &ErrConnect{Addr: target.String(), Errno: unix.Errno(result)}
}

// finish closes the fd of a slot the caller has taken, records the result
// and hands it to the waiting check.
func (s *shard) finish(sl *slot, result int32) {
	unix.Close(int(sl.fd))
	sl.result = result
	s.pending.Add(-1)
	sl.done <- struct{}{}
}

// loop serves the shard until stop: it reads events in batches, completes
// checks (closing each socket at once), and times checks out.
func (s *shard) loop() {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	events := make([]unix.EpollEvent, eventBatch)
	var nextScan int64
	for !s.stopping.Load() {
		wait := -1
		if s.pending.Load() > 0 {
			wait = msUntil(nextScan)
		} else {
			s.sleeping.Store(true)
			if s.pending.Load() > 0 || s.stopping.Load() {
				s.sleeping.Store(false)
				wait = 0
			}
		}
		n, err := unix.EpollWait(s.epfd, events, wait)
		s.sleeping.Store(false)
		if err != nil && err != unix.EINTR {
			// Only a programming error (EBADF, EINVAL) can get here.
			panic(os.NewSyscallError("epoll_wait", err))
		}
		for i := range n {
			ev := &events[i]
			index, gen := eventData(ev)
			if index == evfdMarker {
				var buf [8]byte
				unix.Read(s.evfd, buf[:])
				continue
			}
			s.complete(index, gen, ev.Events)
		}
		if now := monoNow(); now >= nextScan {
			nextScan = s.expire(now)
		}
	}
	s.shutdown()
}

// complete ends the check an event was for, unless the event is stale.
func (s *shard) complete(index, gen, events uint32) {
	sl := s.slots.get(index)
	if sl == nil || !(sl.take(gen, phaseArmed) || sl.take(gen, phaseRegistering)) {
		return // stale: the check already ended, the slot moved on
	}
	var result int32
	if events&(unix.EPOLLERR|unix.EPOLLHUP) != 0 || events&unix.EPOLLOUT == 0 {
		result = int32(socketError(int(sl.fd)))
		if result == 0 && events&unix.EPOLLOUT == 0 {
			result = int32(unix.ECONNRESET)
		}
	}
	s.finish(sl, result)
}

// expire times out the armed checks whose deadline is not after now and
// returns when the next scan is due.
func (s *shard) expire(now int64) int64 {
	next := now + int64(scanEvery)
	s.slots.each(func(sl *slot) {
		st := sl.state.Load()
		if uint32(st) != phaseArmed {
			return
		}
		d := sl.deadline.Load()
		if d > now {
			next = min(next, d)
			return
		}
		if sl.take(uint32(st>>32), phaseArmed) {
			s.finish(sl, resultTimeout)
		}
	})
	return next
}

// shutdown stops registrations, ends every check still waiting with
// resultStopped, and closes the shard's fds.
func (s *shard) shutdown() {
	s.mu.Lock()
	s.open = false
	s.mu.Unlock()
	// No check is registering now, and none can start.
	s.slots.each(func(sl *slot) {
		st := sl.state.Load()
		if uint32(st) == phaseArmed && sl.take(uint32(st>>32), phaseArmed) {
			s.finish(sl, resultStopped)
		}
	})
	s.closeFds()
}

// msUntil returns the epoll_wait timeout in ms, rounded up, until the
// monotonic time t.
func msUntil(t int64) int {
	d := t - monoNow()
	if d <= 0 {
		return 0
	}
	return int((d + int64(time.Millisecond) - 1) / int64(time.Millisecond))
}
