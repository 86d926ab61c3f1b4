package epollcheck

import (
	"net"
	"net/netip"
	"os"
	"strconv"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// zeroLingerOpt is SO_LINGER {on, 0 s}: close sends RST and frees the socket.
var zeroLingerOpt = unix.Linger{Onoff: 1, Linger: 0}

// monoBase anchors monoNow; time.Since uses the monotonic clock.
var monoBase = time.Now()

// monoNow returns monotonic nanoseconds since monoBase.
func monoNow() int64 { return int64(time.Since(monoBase)) }

// monoOf converts t to the monoNow scale.
func monoOf(t time.Time) int64 { return int64(t.Sub(monoBase)) }

// openCheckSocket creates a non-blocking TCP socket for target with
// TCP_QUICKACK off (so the kernel delays the ACK of the SYN-ACK, leaving
// time for our RST) and, with zeroLinger, SO_LINGER {1, 0} (so close sends
// RST). It returns the fd or the failing syscall's error.
func openCheckSocket(family int, zeroLinger bool) (int, error) {
	fd, err := unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, unix.IPPROTO_TCP)
	if err != nil {
		return -1, os.NewSyscallError("socket", err)
	}
	if err := unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_QUICKACK, 0); err != nil {
		unix.Close(fd)
		return -1, os.NewSyscallError("setsockopt TCP_QUICKACK", err)
	}
	if zeroLinger {
		if err := unix.SetsockoptLinger(fd, unix.SOL_SOCKET, unix.SO_LINGER, &zeroLingerOpt); err != nil {
			unix.Close(fd)
			return -1, os.NewSyscallError("setsockopt SO_LINGER", err)
		}
		// Closed with RST, the port would be free for connect() to
		// reuse at once; see srcport_linux.go.
		bindNextPort(fd, family)
	}
	return fd, nil
}

// Raw syscalls. The calls made between a SYN's send and its socket's
// close (connect, epoll_ctl ADD in the checking goroutine; getsockopt and
// close in the loop) never block on a non-blocking socket, so they are
// made with RawSyscall: that skips the scheduler's entersyscall and
// exitsyscall, so the goroutine keeps its P and cannot be parked in the
// run queue between them. Under load, a loop that loses its P on a close
// can wait close to 200 ms for it while its batch of sockets sits open: the
// kernel's 200 ms delayed-ACK timer then completes thousands of
// handshakes.

// rawSockaddr has room for a sockaddr_in or a sockaddr_in6.
type rawSockaddr struct {
	unix.RawSockaddrInet6
}

// fill stores target (and, for IPv6, the zone's interface index scope) in
// sa and returns its length.
func (sa *rawSockaddr) fill(target netip.AddrPort, scope uint32) uintptr {
	if target.Addr().Is4() {
		sa4 := (*unix.RawSockaddrInet4)(unsafe.Pointer(sa))
		*sa4 = unix.RawSockaddrInet4{Family: unix.AF_INET, Addr: target.Addr().As4()}
		putPort(&sa4.Port, target.Port())
		return unsafe.Sizeof(*sa4)
	}
	sa.RawSockaddrInet6 = unix.RawSockaddrInet6{Family: unix.AF_INET6, Addr: target.Addr().As16(), Scope_id: scope}
	putPort(&sa.Port, target.Port())
	return unsafe.Sizeof(sa.RawSockaddrInet6)
}

// connectTo starts a non-blocking connect of fd to target and returns the
// errno (unix.EINPROGRESS when the SYN is on its way, 0 if connected at
// once). It does not allocate: the sockaddr lives on the stack.
func connectTo(fd int, target netip.AddrPort, scope uint32) unix.Errno {
	var sa rawSockaddr
	n := sa.fill(target, scope)
	_, _, e := unix.RawSyscall(unix.SYS_CONNECT, uintptr(fd), uintptr(unsafe.Pointer(&sa)), n)
	return e
}

// connectStep says where connectAndAdd stopped.
type connectStep uint8

const (
	// stepRegistered: fd is registered with the epoll instance; the
	// outcome comes as its event.
	stepRegistered connectStep = iota
	// stepConnect: the first connect() returned something other than
	// EINPROGRESS, the errno (0: connected). That connect runs with the
	// socket locked, so no reply can have been processed yet: an errno
	// here is connect()'s own failure, before or instead of the SYN.
	stepConnect
	// stepAnswered: the SYN left and the second connect() reported the
	// answer already processed (errno 0: connected, else its error).
	stepAnswered
	// stepAdd: epoll_ctl ADD failed with the errno.
	stepAdd
)

// connectAndAdd starts the non-blocking connect of fd to the sockaddr sa
// (salen bytes). If the outcome is already known when connect returns (on
// a fast path the SYN-ACK or RST is processed as the first connect
// releases the socket), it reports it instead of registering fd: it asks
// by calling connect a second time, which returns 0 once connected,
// EALREADY while the SYN is unanswered, the error (e.g. ECONNREFUSED) if it
// failed. Otherwise it registers fd with epfd for ev. It returns where it
// stopped and that step's errno. When it does not register fd it closes
// it (RST with zero linger), still without a preemption point.
//
// It is go:nosplit, and calls only raw syscalls: a nosplit function has
// no asynchronous preemption points, so the Go scheduler cannot park the
// goroutine between the SYN leaving and the socket's registration. Under
// load it would: a check goroutine whose own help completed its check
// never parks, can run past the scheduler's 10 ms slice and be preempted
// right there, queued for as long as a second while its SYN-ACK waits and
// the kernel's delayed ACK completes the handshake.
//
//go:nosplit
func connectAndAdd(fd, epfd int, sa unsafe.Pointer, salen uintptr, ev *unix.EpollEvent) (syscall.Errno, connectStep) {
	_, _, e := syscall.RawSyscall6(unix.SYS_CONNECT, uintptr(fd), uintptr(sa), salen, 0, 0, 0)
	if e != unix.EINPROGRESS && e != unix.EINTR {
		closeFd(fd)
		return e, stepConnect
	}
	_, _, e = syscall.RawSyscall6(unix.SYS_CONNECT, uintptr(fd), uintptr(sa), salen, 0, 0, 0)
	if e != unix.EALREADY && e != unix.EINPROGRESS && e != unix.EINTR {
		closeFd(fd)
		return e, stepAnswered
	}
	_, _, e = syscall.RawSyscall6(unix.SYS_EPOLL_CTL, uintptr(epfd), unix.EPOLL_CTL_ADD, uintptr(fd),
		uintptr(unsafe.Pointer(ev)), 0, 0)
	if e != 0 {
		closeFd(fd)
		return e, stepAdd
	}
	return 0, stepRegistered
}

// putPort stores port in network byte order.
func putPort(p *uint16, port uint16) {
	b := (*[2]byte)(unsafe.Pointer(p))
	b[0], b[1] = byte(port>>8), byte(port)
}

// socketError reads and clears SO_ERROR.
//
//go:nosplit
func socketError(fd int) unix.Errno {
	var v int32
	l := uint32(unsafe.Sizeof(v))
	_, _, e := syscall.RawSyscall6(unix.SYS_GETSOCKOPT, uintptr(fd), unix.SOL_SOCKET, unix.SO_ERROR,
		uintptr(unsafe.Pointer(&v)), uintptr(unsafe.Pointer(&l)), 0)
	if e != 0 {
		return e
	}
	return unix.Errno(v)
}

// closeFd closes fd; with SO_LINGER {1, 0} that sends RST at once.
//
//go:nosplit
func closeFd(fd int) {
	syscall.RawSyscall(unix.SYS_CLOSE, uintptr(fd), 0, 0)
}

// zoneIndex returns the interface index an IPv6 zone names ("eth0" or
// "2").
func zoneIndex(zone string) (uint32, error) {
	if zone == "" {
		return 0, nil
	}
	if n, err := strconv.ParseUint(zone, 10, 32); err == nil {
		return uint32(n), nil
	}
	ifi, err := net.InterfaceByName(zone)
	if err != nil {
		return 0, err
	}
	return uint32(ifi.Index), nil
}

// opError wraps a local syscall failure the way the net package does.
func opError(op string, target netip.AddrPort, err error) error {
	return &net.OpError{Op: op, Net: "tcp", Addr: net.TCPAddrFromAddrPort(target), Err: err}
}
