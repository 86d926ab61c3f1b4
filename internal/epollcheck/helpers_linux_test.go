package epollcheck

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// bindNotListen binds a TCP socket to host:0 without listening and returns
// its address and a function that closes it.
func bindNotListen(network, host string) (string, func(), error) {
	fd, addr, err := bindLoopback(network, host)
	if err != nil {
		return "", nil, err
	}
	return addr, func() { unix.Close(fd) }, nil
}

// bindLoopback creates a blocking TCP socket of network's family, binds it
// to host:0 and returns it with the address the kernel gave it.
func bindLoopback(network, host string) (int, string, error) {
	family := unix.AF_INET
	if network == "tcp6" {
		family = unix.AF_INET6
	}
	fd, err := unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, "", err
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
		return -1, "", err
	}
	got, err := unix.Getsockname(fd)
	if err != nil {
		unix.Close(fd)
		return -1, "", err
	}
	var port int
	switch a := got.(type) {
	case *unix.SockaddrInet4:
		port = a.Port
	case *unix.SockaddrInet6:
		port = a.Port
	}
	return fd, hostPort(host, port), nil
}

// silentListener returns a loopback address whose listener's accept queue
// is full, so the kernel drops further SYNs: a check to it can only time
// out. It needs no privileges.
func silentListener(t testing.TB, network string) string {
	t.Helper()
	host := "127.0.0.1"
	if network == "tcp6" {
		host = "::1"
	}
	fd, addr, err := bindLoopback(network, host)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	if err := unix.Listen(fd, 0); err != nil { // accept queue of one
		t.Fatal(err)
	}
	// Fill the queue: dial until a dial goes unanswered (bounded).
	for i := 0; i < 5; i++ {
		c, err := net.DialTimeout("tcp", addr, 300*time.Millisecond)
		if err != nil {
			return addr
		}
		t.Cleanup(func() { c.Close() })
	}
	t.Fatalf("accept queue of %s never filled", addr)
	return ""
}
