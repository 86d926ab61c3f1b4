package compat

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rawprobe/rawprobe/internal/epollcheck"
)

// Checker checks whether TCP ports accept connections without completing
// the handshake: SYN, SYN-ACK, then RST from our side. Create one with
// NewChecker or NewCheckerZeroLinger, run CheckingLoop in a goroutine, wait
// for WaitReady, then call CheckAddr from any number of goroutines.
type Checker struct {
	zeroLinger bool
	engine     Backend

	mu      sync.Mutex    // guards running and ready
	running bool          // CheckingLoop is running
	ready   chan struct{} // closed once the running loop accepts checks

	isReady  atomic.Bool
	pollerFd atomic.Int64 // -1 when not running
}

// NewChecker returns a Checker that closes each checked socket with RST
// (zero linger), the way tcp-shaker's NewChecker does.
func NewChecker() *Checker { return NewCheckerZeroLinger(true) }

// NewCheckerZeroLinger returns a Checker whose CheckAddr closes sockets with
// RST when zeroLinger is true, or with an ordinary close (FIN, which
// completes the handshake on the target's side) when it is false.
func NewCheckerZeroLinger(zeroLinger bool) *Checker {
	return NewCheckerWithBackend(epollBackend{epollcheck.New()}, zeroLinger)
}

// NewCheckerWithBackend returns a Checker driven by the engine b instead of
// the epoll engine, with the given zero-linger setting (passed to b's
// Check). The Checker behaves as NewChecker's does in everything it does
// itself; the results of checks are b's.
func NewCheckerWithBackend(b Backend, zeroLinger bool) *Checker {
	c := &Checker{zeroLinger: zeroLinger, engine: b, ready: make(chan struct{})}
	c.pollerFd.Store(-1)
	return c
}

// CheckingLoop runs the engine that checks depend on. It blocks until ctx
// is cancelled and then returns nil, after every check still waiting has
// returned ErrCheckerNotRunning. It returns an error for which
// errors.Is(err, ErrCheckerAlreadyStarted) holds if the loop is already
// running, or the error that kept the engine from starting. Once it has
// returned it may be called again.
func (c *Checker) CheckingLoop(ctx context.Context) error {
	if c.engine == nil {
		return errors.New("compat: Checker not made by NewChecker, NewCheckerZeroLinger or NewCheckerWithBackend")
	}
	c.mu.Lock()
	if c.running {
		c.mu.Unlock()
		return ErrCheckerAlreadyStarted
	}
	c.running = true
	ready := c.ready
	c.mu.Unlock()

	madeReady := false
	err := c.engine.Serve(ctx, func(fd int) {
		c.pollerFd.Store(int64(fd))
		c.isReady.Store(true)
		madeReady = true
		close(ready)
	})

	c.mu.Lock()
	c.isReady.Store(false)
	c.pollerFd.Store(-1)
	if madeReady {
		c.ready = make(chan struct{})
	}
	c.running = false
	c.mu.Unlock()
	return err
}

// IsReady reports whether the checking loop is running and accepts checks.
func (c *Checker) IsReady() bool { return c.isReady.Load() }

// WaitReady returns a channel that is closed once the checking loop
// accepts checks. A channel obtained while the loop is stopped is closed
// by the next start.
func (c *Checker) WaitReady() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ready
}

// PollerFd returns the fd of the engine's poller (on Linux, the first
// epoll instance), or -1 while the loop is not running.
func (c *Checker) PollerFd() int { return int(c.pollerFd.Load()) }

// PollerFDAtomic returns the same fd as PollerFd; both read it atomically.
func (c *Checker) PollerFDAtomic() int { return int(c.pollerFd.Load()) }

// CheckAddr checks addr ("host:port", host an IPv4 or IPv6 literal or a
// name) with the Checker's zero-linger setting. It returns nil if the
// target answered SYN-ACK, ErrTimeout if no answer came within timeout
// (name resolution included), *ErrConnect if the connection was refused or
// the target was unreachable, ErrCheckerNotRunning if the loop is not
// running, and an error naming the problem (nothing is sent) if addr or
// timeout is malformed. A name is resolved to all its addresses, IPv4
// first; they are checked in turn until one answers SYN-ACK, and the first
// *ErrConnect is returned if none does.
func (c *Checker) CheckAddr(addr string, timeout time.Duration) error {
	return c.CheckAddrZeroLinger(addr, timeout, c.zeroLinger)
}

// CheckAddrZeroLinger is CheckAddr with the zero-linger setting given per
// call: true closes the socket with RST, false with an ordinary close.
func (c *Checker) CheckAddrZeroLinger(addr string, timeout time.Duration, zeroLinger bool) error {
	if c.engine == nil {
		return ErrCheckerNotRunning
	}
	if timeout <= 0 {
		return badInput(addr, "timeout "+timeout.String()+" is not positive")
	}
	deadline := time.Now().Add(timeout)
	// Fast path, no allocation: an IP literal without zone.
	if ap, err := netip.ParseAddrPort(addr); err == nil && ap.Addr().Zone() == "" {
		if msg := badTarget(ap); msg != "" {
			return badInput(addr, msg)
		}
		return c.engine.Check(netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), deadline, zeroLinger)
	}
	targets, err := resolve(addr, deadline)
	if err != nil {
		return err
	}
	var first error
	for _, t := range targets {
		err := c.engine.Check(t, deadline, zeroLinger)
		var ce *ErrConnect
		if !errors.As(err, &ce) {
			return err // nil, timeout, not running, local failure
		}
		if first == nil {
			first = err
		}
	}
	return first
}

// badTarget says what makes ap unusable as a destination, or "".
func badTarget(ap netip.AddrPort) string {
	switch {
	case ap.Port() == 0:
		return "port 0 is not a destination port"
	case ap.Addr().Unmap().IsUnspecified():
		return "unspecified address " + ap.Addr().String() + " is not a destination"
	case ap.Addr().Unmap().IsMulticast():
		return "multicast address " + ap.Addr().String() + " cannot be checked over TCP"
	}
	return ""
}

// badInput is the error for a malformed address or timeout.
func badInput(addr, msg string) error {
	return &net.OpError{Op: "check", Net: "tcp", Err: &net.AddrError{Err: msg, Addr: addr}}
}

// resolve splits addr into host and port and resolves both, within
// deadline. Names yield every address, IPv4 ones first.
func resolve(addr string, deadline time.Time) ([]netip.AddrPort, error) {
	if addr == "" {
		return nil, badInput(addr, "empty address (want host:port)")
	}
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		var ae *net.AddrError
		if errors.As(err, &ae) {
			return nil, badInput(addr, ae.Err+" (want host:port)")
		}
		return nil, badInput(addr, err.Error())
	}
	if host == "" {
		return nil, badInput(addr, "missing host")
	}
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()

	port, err := parsePort(ctx, addr, portStr)
	if err != nil {
		return nil, err
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		ap := netip.AddrPortFrom(ip.Unmap(), port)
		if msg := badTarget(ap); msg != "" {
			return nil, badInput(addr, msg)
		}
		if ip.Zone() != "" && !ip.Is6() {
			return nil, badInput(addr, "zone on an IPv4 address")
		}
		return []netip.AddrPort{ap}, nil
	}
	ips, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return nil, lookupError(ctx, addr, err)
	}
	var v4, v6 []netip.AddrPort
	for _, ip := range ips {
		ap := netip.AddrPortFrom(ip.Unmap(), port)
		if badTarget(ap) != "" {
			continue
		}
		if ap.Addr().Is4() {
			v4 = append(v4, ap)
		} else {
			v6 = append(v6, ap)
		}
	}
	if len(v4)+len(v6) == 0 {
		return nil, &net.OpError{Op: "check", Net: "tcp", Err: &net.DNSError{Err: "no usable address", Name: host, IsNotFound: true}}
	}
	return append(v4, v6...), nil
}

// parsePort reads a decimal port or looks up a service name.
func parsePort(ctx context.Context, addr, s string) (uint16, error) {
	if s == "" {
		return 0, badInput(addr, "missing port")
	}
	if (s[0] >= '0' && s[0] <= '9') || s[0] == '-' || s[0] == '+' {
		n, err := strconv.ParseUint(s, 10, 16)
		if err != nil || n == 0 {
			return 0, badInput(addr, "port "+s+" out of range 1-65535")
		}
		return uint16(n), nil
	}
	n, err := net.DefaultResolver.LookupPort(ctx, "tcp", s)
	if err != nil {
		if ctx.Err() != nil {
			return 0, ErrTimeout
		}
		return 0, badInput(addr, "unknown port "+strconv.Quote(s))
	}
	if n <= 0 || n > 65535 {
		return 0, badInput(addr, "port "+s+" out of range 1-65535")
	}
	return uint16(n), nil
}

// lookupError turns a resolver error into ErrTimeout when the deadline
// cut it short, and into a *net.OpError otherwise.
func lookupError(ctx context.Context, addr string, err error) error {
	var de *net.DNSError
	if ctx.Err() != nil || (errors.As(err, &de) && de.IsTimeout) {
		return ErrTimeout
	}
	return &net.OpError{Op: "check", Net: "tcp", Err: err}
}
