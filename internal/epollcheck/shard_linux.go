package epollcheck

import (
	"errors"
	"net/netip"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// shard is one epoll instance, its loop, and the slots of the checks it
// watches.
type shard struct {
	epfd int
	evfd int // eventfd that wakes the loop (to stop, or from an idle sleep)

	// mu is held for reading by everyone but the loop who uses epfd or
	// evfd (a check registering, waking the loop or helping it; stop
	// waking it), and for writing when the loop shuts down; open says
	// whether the fds are still the shard's. Holding it keeps them from
	// being closed under a caller, and checking open keeps a late caller
	// off fd numbers the kernel may have given to someone else since,
	// such as the epoll instance of the engine's next run, whose events it
	// would steal.
	mu   sync.RWMutex
	open bool

	pending  atomic.Int64 // checks registered and not yet completed
	sleeping atomic.Bool  // the loop waits without a timeout: wake it via evfd
	stopping atomic.Bool

	slots slotTable
}

// Loop tuning.
const (
	eventBatch   = 1024                 // events read per epoll_wait
	scanEvery    = 2 * time.Millisecond // longest wait while checks are pending: timeout accuracy
	activeLinger = time.Second          // how long the loop stays in active mode after the last pending check
	evfdMarker   = ^uint32(0)           // slot index that marks the eventfd's event
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
// bits (the Fd and Pad fields of x/sys's EpollEvent). collect reads them
// back inline: it is go:nosplit and calls nothing that might not be.
func setEventData(ev *unix.EpollEvent, index, gen uint32) {
	ev.Fd = int32(index)
	ev.Pad = int32(gen)
}

// wake makes the loop return from epoll_wait.
func (s *shard) wake() {
	var one = [8]byte{1}
	unix.RawSyscall(unix.SYS_WRITE, uintptr(s.evfd), uintptr(unsafe.Pointer(&one)), 8)
}

// stop asks the loop to finish; it sweeps and closes everything itself.
// The loop may see stopping and close its fds before the wake: the wake
// is made only while they are open.
func (s *shard) stop() {
	s.stopping.Store(true)
	s.mu.RLock()
	if s.open {
		s.wake()
	}
	s.mu.RUnlock()
}

// probe connects the fresh socket fd to target, registers it with the
// shard and waits for its outcome. The fd belongs to probe: it is closed
// on every path, by probe or by the loop.
//
// Between connect (the SYN leaves) and epoll_ctl ADD nothing may park the
// goroutine, or the SYN-ACK could wait for a close that only comes after
// the kernel's delayed ACK: the slot is taken before connect, and both
// syscalls are raw (see sys_linux.go).
func (s *shard) probe(fd int, target netip.AddrPort, scope uint32, deadline int64) Outcome {
	s.mu.RLock()
	if !s.open {
		s.mu.RUnlock()
		unix.Close(fd)
		return stopped
	}
	sl := s.slots.acquire()
	if sl == nil {
		s.mu.RUnlock()
		unix.Close(fd)
		return localError(opError("dial", target, errTooManyChecks))
	}
	// connect before registering: registering first would report the
	// unconnected socket writable at once. An answer that arrives before
	// epoll_ctl ADD is not lost: ADD reports an fd that is already ready.
	gen := uint32(sl.state.Load()>>32) + 1
	sl.fd = int32(fd)
	sl.deadline.Store(deadline)
	sl.state.Store(packState(gen, phaseRegistering))
	s.pending.Add(1)
	ev := unix.EpollEvent{Events: unix.EPOLLOUT | unix.EPOLLET | unix.EPOLLONESHOT}
	setEventData(&ev, sl.index, gen)
	var sa rawSockaddr
	salen := sa.fill(target, scope)
	errno, step := connectAndAdd(fd, s.epfd, unsafe.Pointer(&sa), salen, &ev)
	if step != stepRegistered {
		s.mu.RUnlock()
		// No event can come for an fd that was not added, so the slot
		// is still ours.
		sl.state.Store(packState(gen, phaseIdle))
		s.pending.Add(-1)
		s.slots.release(sl) // connectAndAdd closed fd
		return unregisteredOutcome(target, errno, step)
	}
	// From here the loop may time the check out. If it has already
	// completed it on an event, the swap fails and done is signalled.
	sl.state.CompareAndSwap(packState(gen, phaseRegistering), packState(gen, phaseArmed))
	// Wake an idle loop before helping: a close by help that races with
	// the loop's poll of the epoll fd leaves the socket's release (its
	// RST) to the loop thread's return from poll. Both still under mu, so
	// the fds are the shard's.
	if s.sleeping.Load() && s.sleeping.CompareAndSwap(true, false) {
		s.wake()
	}
	runTestHook(hookCheckFirstPoll)
	n := s.collectHelp(sl)
	s.mu.RUnlock()
	s.deliverHelp(sl, n)

	<-sl.done
	// Once more: this goroutine may be the first of ours to run in a
	// while. The loop may have stopped and closed its fds meanwhile; help
	// then leaves them alone.
	runTestHook(hookCheckLastPoll)
	s.help(sl)
	result := sl.result
	sl.state.Store(packState(gen, phaseIdle))
	s.slots.release(sl)
	switch result {
	case resultTimeout:
		return Outcome{Kind: Timeout}
	case resultStopped:
		return stopped
	}
	return errnoOutcome(syscall.Errno(result))
}

// errTooManyChecks is the cause of the LocalError of a check that finds
// the shard's slot table full.
var errTooManyChecks = errors.New("epollcheck: too many checks in flight")

// unregisteredOutcome is the outcome of a check whose socket connectAndAdd
// did not register: it ended with errno at step.
func unregisteredOutcome(target netip.AddrPort, errno syscall.Errno, step connectStep) Outcome {
	switch {
	case step == stepAdd:
		return localError(opError("dial", target, os.NewSyscallError("epoll_ctl", errno)))
	case step == stepAnswered, errno == 0, errno == syscall.ECONNREFUSED:
		// The answer was in before connect returned, or (first connect
		// returning 0 or ECONNREFUSED) the kernel reported it at once.
		return errnoOutcome(errno)
	case errno == syscall.ENETUNREACH, errno == syscall.EHOSTUNREACH:
		// The first connect() failed in its route lookup, which comes
		// before the SYN is built (tcp_v4_connect, tcp_v6_connect): no
		// SYN left.
		return Outcome{Kind: NoRoute, Errno: errno}
	}
	// The first connect() refused to start: EADDRNOTAVAIL (no source
	// port), EACCES (prohibit route), ...
	return Outcome{Kind: LocalError, Errno: errno, Err: opError("connect", target, os.NewSyscallError("connect", errno))}
}

// finish closes the fd of a slot the caller has taken, records the result
// and hands it to the waiting check.
func (s *shard) finish(sl *slot, result int32) {
	closeFd(int(sl.fd))
	s.deliver(sl, result)
}

// deliver hands the result of a slot whose fd is closed to its check.
func (s *shard) deliver(sl *slot, result int32) {
	sl.result = result
	s.pending.Add(-1)
	sl.done <- struct{}{}
}

// loop serves the shard until stop: it reads events in batches, completes
// checks (closing each socket at once), and times checks out.
//
// Closing promptly under load, with the CPUs busy with other work, is
// what this loop is about:
//   - While checks are active (some pending, or some within activeLinger),
//     the loop waits with epoll_wait as a raw syscall of at most scanEvery
//     (when GOMAXPROCS >= 2): it keeps its P, so it runs the moment events
//     arrive. An ordinary syscall gives the P up, and the loop then queues
//     for one behind thousands of runnable goroutines, for up to seconds.
//     A garbage collection's stop-the-world waits for it: at most
//     scanEvery.
//   - The short waits also bound how long a socket closed by a check
//     goroutine (see help) can stay alive: when that close races with this
//     loop polling the socket inside epoll_wait, the kernel leaves the
//     final release (and so the RST) to this thread's return from
//     epoll_wait.
//   - The loop's thread asks for nice -20 (best effort, needs
//     CAP_SYS_NICE) so the kernel runs it ahead of other busy threads.
//   - Idle (nothing pending for activeLinger), it sleeps in an ordinary
//     epoll_wait without timeout; the first check to register wakes it
//     through the eventfd.
func (s *shard) loop() {
	runtime.LockOSThread()
	if unix.Setpriority(unix.PRIO_PROCESS, unix.Gettid(), -20) != nil {
		defer runtime.UnlockOSThread()
	}
	// Otherwise the thread, now unlike the others, ends with this
	// goroutine (a goroutine that exits locked takes its thread along).
	events := make([]unix.EpollEvent, eventBatch)
	closed := make([]closedSlot, eventBatch)
	var nextScan, lastActive int64
	for !s.stopping.Load() {
		now := monoNow()
		pending := s.pending.Load() > 0
		if pending {
			lastActive = now
		}
		timeout := 0
		switch {
		case now-lastActive < int64(activeLinger) && runtime.GOMAXPROCS(0) >= 2:
			// Active: wait inside collect, keeping the P.
			timeout = min(msUntil(nextScan), int(scanEvery/time.Millisecond))
		case pending:
			s.waitReady(msUntil(nextScan))
		default:
			wait := -1
			s.sleeping.Store(true)
			if s.pending.Load() > 0 || s.stopping.Load() {
				wait = 0
			}
			s.waitReady(wait)
			s.sleeping.Store(false)
		}
		runTestHook(hookLoopPoll)
		n, evfd, err := s.collect(events, closed, timeout)
		if err != 0 && err != unix.EINTR {
			// Only a programming error (EBADF, EINVAL) can get here.
			panic(os.NewSyscallError("epoll_wait", err))
		}
		for _, c := range closed[:n] {
			s.deliver(c.sl, c.result)
		}
		if evfd {
			var buf [8]byte
			unix.Read(s.evfd, buf[:])
		}
		if now := monoNow(); now >= nextScan {
			nextScan = s.expire(now)
		}
	}
	s.shutdown()
}

// collect waits up to timeout ms (0: not at all) for events on the
// shard's epoll instance, up to len(events), and for each check answered
// takes its slot and closes its socket. It stores those slots with their
// results in closed (room for len(events)), for deliver, and reports
// whether the eventfd was among the events (its reading is left to the
// loop).
//
// collect is go:nosplit and calls only nosplit code: between epoll_wait
// handing it events and the closes there is no point where the Go
// scheduler can preempt the goroutine. A goroutine preempted (after its
// 10 ms slice) while holding a batch of events it has taken from epoll
// would leave those sockets open, invisible to everyone else, until it is
// scheduled again, seconds later under load.
//
//go:nosplit
func (s *shard) collect(events []unix.EpollEvent, closed []closedSlot, timeout int) (nclosed int, evfd bool, errno syscall.Errno) {
	n, _, e := syscall.RawSyscall6(unix.SYS_EPOLL_PWAIT, uintptr(s.epfd), uintptr(unsafe.Pointer(&events[0])),
		uintptr(len(events)), uintptr(timeout), 0, 0)
	if e != 0 {
		return 0, false, e
	}
	for i := 0; i < int(n); i++ {
		ev := &events[i]
		index, gen := uint32(ev.Fd), uint32(ev.Pad) // see setEventData
		if index == evfdMarker {
			evfd = true
			continue
		}
		if sl, result, ok := s.complete(index, gen, ev.Events); ok {
			closed[nclosed] = closedSlot{sl, result}
			nclosed++
		}
	}
	return nclosed, evfd, 0
}

// help is called by a check goroutine after it registered its socket, and
// after its result came: it takes the events already waiting, without
// blocking, and handles them as the loop would. So answered sockets are
// closed by whichever of the process's goroutines runs first, and their
// RSTs do not wait for the loop goroutine: with thousands of runnable
// check goroutines the loop waited for a P for up to seconds, long enough
// for the kernel's delayed ACK to complete handshakes. The eventfd is left
// to the loop.
// help polls only while the shard is open (see mu).
func (s *shard) help(sl *slot) {
	s.mu.RLock()
	n := 0
	if s.open {
		n = s.collectHelp(sl)
	}
	s.mu.RUnlock()
	s.deliverHelp(sl, n)
}

// collectHelp is help's poll, for a caller holding mu for reading with the
// shard open. It returns how many slots it closed, for deliverHelp.
func (s *shard) collectHelp(sl *slot) int {
	n, _, _ := s.collect(sl.help.events[:], sl.help.closed[:], 0)
	return n
}

// deliverHelp delivers the n results collectHelp stored in sl's scratch
// space. It touches no fd, so it needs no lock.
func (s *shard) deliverHelp(sl *slot, n int) {
	for _, c := range sl.help.closed[:n] {
		s.deliver(c.sl, c.result)
	}
}

// closedSlot is a slot whose socket the loop has closed, with the result
// still to be delivered.
type closedSlot struct {
	sl     *slot
	result int32
}

// complete ends the check an event was for, unless the event is stale: it
// reads the outcome and closes the socket. ok is false for a stale event.
// It is go:nosplit for collect.
//
//go:nosplit
func (s *shard) complete(index, gen, events uint32) (sl *slot, result int32, ok bool) {
	sl = s.slots.get(index)
	if sl == nil || !(sl.take(gen, phaseArmed) || sl.take(gen, phaseRegistering)) {
		return nil, 0, false // stale: the check already ended, the slot moved on
	}
	if events&(unix.EPOLLERR|unix.EPOLLHUP) != 0 || events&unix.EPOLLOUT == 0 {
		result = int32(socketError(int(sl.fd)))
		if result == 0 && events&unix.EPOLLOUT == 0 {
			result = int32(unix.ECONNRESET)
		}
	}
	closeFd(int(sl.fd))
	return sl, result, true
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

// waitReady blocks, giving up the P, until the epoll instance has events
// or timeout ms pass (-1: no limit). It takes no events: collect does.
func (s *shard) waitReady(timeout int) {
	fds := [1]unix.PollFd{{Fd: int32(s.epfd), Events: unix.POLLIN}}
	unix.Poll(fds[:], timeout)
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
