package epollcheck

import (
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Source ports are chosen by the engine, in rotation over the kernel's
// ephemeral range, instead of by connect().
//
// Why: a check's socket is closed with RST and leaves no TIME_WAIT, so
// connect() may hand the very same port to the next check to the same
// target microseconds later. The target then sees the RST of one check
// and the SYN of the next on one 4-tuple at once; at tens of thousands of
// checks against one port (see TestLoadPcap50k) the target's kernel may
// answer such a SYN with RST and SYN-ACK both (the check reports
// ECONNREFUSED for an open port), and the stray SYN-ACK leaves the next
// check on that 4-tuple answered by a challenge ACK, a handshake the
// engine does not see complete, and the delayed ACK completing it. With
// rotation a port comes back only after the whole range has been used,
// long after its RST was processed.

// srcPorts is the rotation: next port = lo + (counter mod n).
var srcPorts struct {
	once    sync.Once
	lo, n   uint32
	counter atomic.Uint32
}

// bindTries is how many ports bindNextPort tries before it leaves the
// choice to connect() (ports in use by other sockets are skipped).
const bindTries = 8

// loadPortRange reads the ephemeral range of the calling thread's network
// namespace; the kernel's default when it cannot.
func loadPortRange() {
	lo, hi := uint32(32768), uint32(60999)
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			l, err1 := strconv.ParseUint(f[0], 10, 16)
			h, err2 := strconv.ParseUint(f[1], 10, 16)
			if err1 == nil && err2 == nil && l > 0 && l <= h {
				lo, hi = uint32(l), uint32(h)
			}
		}
	}
	srcPorts.lo, srcPorts.n = lo, hi-lo+1
	srcPorts.counter.Store(uint32(os.Getpid()) * 7919 % srcPorts.n)
}

// bindNextPort binds fd (of family) to the wildcard address and the next
// free port of the rotation. It reports whether it bound; when it did not
// (every port tried was in use), connect() chooses as usual.
func bindNextPort(fd, family int) bool {
	srcPorts.once.Do(loadPortRange)
	var sa rawSockaddr
	salen := unsafe.Sizeof(sa.RawSockaddrInet6)
	if family == unix.AF_INET {
		salen = unsafe.Sizeof(unix.RawSockaddrInet4{})
	}
	for range bindTries {
		port := uint16(srcPorts.lo + srcPorts.counter.Add(1)%srcPorts.n)
		if family == unix.AF_INET {
			sa4 := (*unix.RawSockaddrInet4)(unsafe.Pointer(&sa))
			*sa4 = unix.RawSockaddrInet4{Family: unix.AF_INET}
			putPort(&sa4.Port, port)
		} else {
			sa.RawSockaddrInet6 = unix.RawSockaddrInet6{Family: unix.AF_INET6}
			putPort(&sa.Port, port)
		}
		_, _, e := syscall.RawSyscall(unix.SYS_BIND, uintptr(fd), uintptr(unsafe.Pointer(&sa)), salen)
		if e == 0 {
			return true
		}
		if e != unix.EADDRINUSE {
			return false
		}
	}
	return false
}
