// Package loopback gives tests the loopback targets they check against:
// an open port, a closed one (bound, not listening: the kernel answers
// RST, and connect's ephemeral port choice never takes it), and a silent
// one (a listener whose accept queue is full, so SYNs are dropped). None
// needs privileges. Everything is released in the test's Cleanup.
package loopback

import (
	"net"
	"net/netip"
	"os"
	"strconv"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// host returns the loopback address of network ("tcp4" or "tcp6").
func host(network string) string {
	if network == "tcp6" {
		return "::1"
	}
	return "127.0.0.1"
}

// HostPort joins a host and a port number.
func HostPort(host string, port int) string { return net.JoinHostPort(host, strconv.Itoa(port)) }

// Bind creates a blocking TCP socket of network's family ("tcp4" or
// "tcp6"), binds it to host:0 without listening and returns it with the
// address the kernel gave it. The caller closes fd.
func Bind(network, host string) (fd int, addr string, err error) {
	family := unix.AF_INET
	if network == "tcp6" {
		family = unix.AF_INET6
	}
	fd, err = unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, "", os.NewSyscallError("socket", err)
	}
	ip := netip.MustParseAddr(host)
	var sa unix.Sockaddr
	if family == unix.AF_INET {
		sa = &unix.SockaddrInet4{Addr: ip.As4()}
	} else {
		sa = &unix.SockaddrInet6{Addr: ip.As16()}
	}
	if err := unix.Bind(fd, sa); err != nil {
		unix.Close(fd)
		return -1, "", os.NewSyscallError("bind", err)
	}
	got, err := unix.Getsockname(fd)
	if err != nil {
		unix.Close(fd)
		return -1, "", os.NewSyscallError("getsockname", err)
	}
	var port int
	switch a := got.(type) {
	case *unix.SockaddrInet4:
		port = a.Port
	case *unix.SockaddrInet6:
		port = a.Port
	}
	return fd, HostPort(host, port), nil
}

// Listen returns a listening loopback TCP listener on network ("tcp4" or
// "tcp6"), closed when the test ends.
func Listen(t testing.TB, network string) *net.TCPListener {
	t.Helper()
	l, err := net.Listen(network, net.JoinHostPort(host(network), "0"))
	if err != nil {
		t.Fatalf("listen %s: %v", network, err)
	}
	t.Cleanup(func() { l.Close() })
	return l.(*net.TCPListener)
}

// ClosedPort returns a loopback address whose port is bound but not
// listening, for as long as the test runs.
func ClosedPort(t testing.TB, network string) string {
	t.Helper()
	fd, addr, err := Bind(network, host(network))
	if err != nil {
		t.Fatalf("bind %s: %v", network, err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	return addr
}

// SilentListener returns a loopback address whose listener's accept queue
// is full, so the kernel drops further SYNs: a check to it can only time
// out.
func SilentListener(t testing.TB, network string) string {
	t.Helper()
	addr, _ := FullListener(t, network)
	return addr
}

// FullListener returns SilentListener's address and its listening fd:
// accepting from the fd makes room in the queue, so the next
// retransmitted SYN is answered with a SYN-ACK. The fd is closed in
// t.Cleanup.
func FullListener(t testing.TB, network string) (addr string, fd int) {
	t.Helper()
	fd, addr, err := Bind(network, host(network))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	if err := unix.Listen(fd, 0); err != nil { // accept queue of one
		t.Fatal(err)
	}
	// Fill the queue: dial until a dial goes unanswered (bounded).
	for range 5 {
		c, err := net.DialTimeout("tcp", addr, 300*time.Millisecond)
		if err != nil {
			return addr, fd
		}
		t.Cleanup(func() { c.Close() })
	}
	t.Fatalf("accept queue of %s never filled", addr)
	return "", -1
}

// FdCount returns how many fds the process has open.
func FdCount(t testing.TB) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatalf("count fds: %v", err)
	}
	return len(ents)
}
