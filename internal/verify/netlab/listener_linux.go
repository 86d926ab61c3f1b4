package netlab

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// listenBacklog is the accept backlog of a Listener; the kernel caps it at
// the target's net.core.somaxconn, which Setup raises to the same value.
// The SYN queue of a listener is bounded by it too.
const listenBacklog = 65535

// Listen starts a TCP listener in the target namespace that accepts,
// counts and closes connections; the caller closes it. network is "tcp",
// "tcp4" or "tcp6"; address is host:port. An empty or unspecified host
// covers every local address, so ":80" with "tcp" listens on port 80 of
// the whole of Answering4 and Answering6 (IPv4 and IPv6), with "tcp6"
// "[::]:80" only on IPv6. A specific host may be any address of the
// answering prefixes; host names are refused, never looked up.
func (n *Net) Listen(network, address string) (*Listener, error) {
	l, err := n.listen(network, address)
	if err != nil {
		return nil, err
	}
	go l.serve()
	return l, nil
}

// listen creates the listening socket in the target namespace, with a
// backlog larger than the one Go's net package would use (it reads
// somaxconn from the host namespace).
func (n *Net) listen(network, address string) (*Listener, error) {
	switch network {
	case "tcp", "tcp4", "tcp6":
	default:
		return nil, fmt.Errorf("listen %s %s: network must be tcp, tcp4 or tcp6", network, address)
	}
	a, err := parseListenAddr(address)
	if err != nil {
		return nil, fmt.Errorf("listen %s %s: %w", network, address, err)
	}
	ip4 := a.IP.To4()
	family, v6only := unix.AF_INET6, false
	var sa unix.Sockaddr
	switch {
	case network == "tcp4" || (network == "tcp" && ip4 != nil && !a.IP.IsUnspecified()):
		if a.IP != nil && ip4 == nil {
			return nil, fmt.Errorf("listen %s %s: not an IPv4 address", network, address)
		}
		family = unix.AF_INET
		s := &unix.SockaddrInet4{Port: a.Port}
		if ip4 != nil {
			copy(s.Addr[:], ip4)
		}
		sa = s
	default:
		// "tcp" with no or an unspecified host: one dual-stack socket.
		v6only = network == "tcp6"
		if network == "tcp6" && ip4 != nil && !a.IP.IsUnspecified() {
			return nil, fmt.Errorf("listen %s %s: not an IPv6 address", network, address)
		}
		s := &unix.SockaddrInet6{Port: a.Port}
		if a.IP != nil && !a.IP.IsUnspecified() {
			copy(s.Addr[:], a.IP.To16())
		}
		sa = s
	}
	var l *Listener
	err = n.InTarget(func() error {
		fd, err := unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return os.NewSyscallError("socket", err)
		}
		// A non-blocking descriptor: os.NewFile puts it in the poller.
		f := os.NewFile(uintptr(fd), "netlab-listener")
		if err := listenOn(fd, family, v6only, sa); err != nil {
			f.Close()
			return err
		}
		bound, err := unix.Getsockname(fd)
		if err != nil {
			f.Close()
			return os.NewSyscallError("getsockname", err)
		}
		rc, err := f.SyscallConn()
		if err != nil {
			f.Close()
			return err
		}
		l = &Listener{f: f, rc: rc, addr: tcpAddr(bound), done: make(chan struct{})}
		return nil
	})
	if err != nil {
		return nil, &net.OpError{Op: "listen", Net: network, Addr: a, Err: err}
	}
	return l, nil
}

// listenOn sets the options, binds and listens.
func listenOn(fd, family int, v6only bool, sa unix.Sockaddr) error {
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); err != nil {
		return os.NewSyscallError("setsockopt", err)
	}
	if family == unix.AF_INET6 {
		v := 0
		if v6only {
			v = 1
		}
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, v); err != nil {
			return os.NewSyscallError("setsockopt", err)
		}
		// Addresses of an AnyIP prefix are not interface addresses;
		// IPv6 binds them only with freebind.
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_FREEBIND, 1); err != nil {
			return os.NewSyscallError("setsockopt", err)
		}
	} else if err := unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_FREEBIND, 1); err != nil {
		return os.NewSyscallError("setsockopt", err)
	}
	if err := unix.Bind(fd, sa); err != nil {
		return os.NewSyscallError("bind", err)
	}
	return os.NewSyscallError("listen", unix.Listen(fd, listenBacklog))
}

// tcpAddr converts a bound socket address.
func tcpAddr(sa unix.Sockaddr) *net.TCPAddr {
	switch sa := sa.(type) {
	case *unix.SockaddrInet4:
		return &net.TCPAddr{IP: net.IP(append([]byte(nil), sa.Addr[:]...)), Port: sa.Port}
	case *unix.SockaddrInet6:
		return &net.TCPAddr{IP: net.IP(append([]byte(nil), sa.Addr[:]...)), Port: sa.Port}
	}
	return &net.TCPAddr{}
}

// serve accepts and closes connections until the listener is closed.
// Each accept and its count happen under l.mu, so Accepted (which adds
// the accept queue's length) never sees a connection in neither place.
func (l *Listener) serve() {
	defer close(l.done)
	for {
		var stop bool
		err := l.rc.Read(func(fd uintptr) bool {
			for {
				l.mu.Lock()
				nfd, _, err := unix.Accept4(int(fd), unix.SOCK_CLOEXEC)
				if err == nil {
					l.accepted++
				}
				l.mu.Unlock()
				switch err {
				case nil:
					unix.Close(nfd)
				case unix.EINTR, unix.ECONNABORTED:
				case unix.EAGAIN:
					return false // wait for the next connection
				default:
					stop = true
					return true
				}
			}
		})
		if err != nil || stop {
			return
		}
	}
}

// queued returns the length of the kernel's accept queue (TCP_INFO's
// unacked field of a listening socket), or 0 once the listener is closed.
// l.mu is held.
func (l *Listener) queued() int64 {
	var q int64
	l.rc.Control(func(fd uintptr) {
		if info, err := unix.GetsockoptTCPInfo(int(fd), unix.SOL_TCP, unix.TCP_INFO); err == nil {
			q = int64(info.Unacked)
		}
	})
	return q
}

// parseListenAddr parses host:port where host is empty or an IP literal;
// names are refused so that nothing is ever looked up.
func parseListenAddr(address string) (*net.TCPAddr, error) {
	host, port, err := net.SplitHostPort(address)
	if err != nil {
		return nil, err
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return nil, fmt.Errorf("port %q is not a number from 0 to 65535", port)
	}
	a := &net.TCPAddr{Port: int(p)}
	if host != "" {
		ip, err := netip.ParseAddr(host)
		if err != nil || ip.Zone() != "" {
			return nil, fmt.Errorf("host %q is not an IP address (names are not looked up)", host)
		}
		a.IP = net.IP(ip.AsSlice())
	}
	return a, nil
}
