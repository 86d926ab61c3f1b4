package rawcheck

import (
	"errors"
	"fmt"
	"net"
	"os"

	"golang.org/x/sys/unix"
)

// portReservation holds one ordinary TCP socket per source port of the
// engine's chunk of its range, bound to the wildcard address of both
// families so that no local connection (connect's ephemeral choice or an
// explicit bind) and no other engine can take the port while the engine
// owns it.
//
// By default the sockets only bind: a SYN-ACK to such a port finds no
// listening or connected socket, so the kernel itself answers it with RST.
// With own RSTs the sockets listen behind a BPF filter that discards every
// segment: the kernel then finds the listener, runs its filter before any
// TCP processing and drops the SYN-ACK silently, so the engine's RST is the
// only one.
type portReservation struct {
	fds   []int
	ports []uint16
	// lo and hi bound the chunk: the engine's reply filter accepts these
	// destination ports only, so replies to another engine's chunk never
	// reach it (and are not counted as forged).
	lo, hi uint16
}

// dropAll is a socket filter that accepts nothing.
var dropAll = []unix.SockFilter{{Code: 0x06, K: 0}} // BPF_RET|BPF_K 0

// reservePorts reserves one chunk of [lo, hi] for this engine: the first
// of the aligned chunks lo, lo+chunk, ... (the last one shorter) whose
// every port it can bind. Several engines on one host (in one network
// namespace) so each get a disjoint chunk: ceil((hi-lo+1)/chunk) of them
// share a range. A chunk with a port in use (by another engine or any
// socket) is released whole and the next one tried, so two engines racing
// for a chunk move on rather than share it. When no chunk is wholly free
// it falls back to the free ports of the first chunk that has any, as a
// range smaller than a chunk with a port in use needs (the engine then
// sees replies to any other engine's ports of that chunk, and counts them
// invalid); it fails, naming the range, when no port of it is free.
func reservePorts(lo, hi uint16, chunk int, listen bool) (*portReservation, error) {
	chunk = max(chunk, 1)
	var best *portReservation
	for c := int(lo); c <= int(hi); c += chunk {
		end := min(c+chunk-1, int(hi))
		r, err := reserveChunk(uint16(c), uint16(end), listen, best == nil)
		if err != nil {
			best.close()
			return nil, err
		}
		if r == nil {
			continue
		}
		if len(r.ports) == end-c+1 {
			best.close()
			return r, nil
		}
		best = r // partial: the first chunk with a free port
	}
	if best != nil {
		return best, nil
	}
	return nil, fmt.Errorf("rawcheck: every source port in %d-%d is in use", lo, hi)
}

// reserveChunk binds the ports of [lo, hi]. With partial, it skips ports
// in use and returns the rest (nil if none); without, it returns nil, the
// others released, at the first port in use.
func reserveChunk(lo, hi uint16, listen, partial bool) (*portReservation, error) {
	r := &portReservation{lo: lo, hi: hi}
	for p := int(lo); p <= int(hi); p++ {
		fd, err := reservePort(uint16(p), listen)
		if errors.Is(err, unix.EADDRINUSE) && partial {
			continue
		}
		if err != nil {
			r.close()
			if errors.Is(err, unix.EADDRINUSE) {
				return nil, nil
			}
			return nil, &net.OpError{Op: "reserve", Net: "tcp", Err: err}
		}
		r.fds = append(r.fds, fd)
		r.ports = append(r.ports, uint16(p))
	}
	if len(r.ports) == 0 {
		return nil, nil
	}
	return r, nil
}

// reservePort binds (and with listen, listens on) one TCP socket to port.
func reservePort(port uint16, listen bool) (int, error) {
	fd, err := unix.Socket(unix.AF_INET6, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	v6 := err == nil
	if err == unix.EAFNOSUPPORT { // no IPv6 in this kernel or namespace
		fd, err = unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	}
	if err != nil {
		return -1, os.NewSyscallError("socket", err)
	}
	fail := func(call string, err error) (int, error) {
		unix.Close(fd)
		return -1, os.NewSyscallError(call, err)
	}
	var sa unix.Sockaddr = &unix.SockaddrInet4{Port: int(port)}
	if v6 {
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, 0); err != nil {
			return fail("setsockopt", err)
		}
		sa = &unix.SockaddrInet6{Port: int(port)}
	}
	if listen {
		prog := unix.SockFprog{Len: uint16(len(dropAll)), Filter: &dropAll[0]}
		if err := unix.SetsockoptSockFprog(fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &prog); err != nil {
			return fail("setsockopt", err)
		}
	}
	if err := unix.Bind(fd, sa); err != nil {
		return fail("bind", err)
	}
	if listen {
		if err := unix.Listen(fd, 1); err != nil {
			return fail("listen", err)
		}
	}
	return fd, nil
}

// close releases every reserved port; a nil r holds none.
func (r *portReservation) close() {
	if r == nil {
		return
	}
	for _, fd := range r.fds {
		unix.Close(fd)
	}
	r.fds = nil
}
