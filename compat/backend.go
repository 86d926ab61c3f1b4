package compat

import (
	"context"
	"net/netip"
	"time"
)

// backend is the engine behind a Checker. The Checker does everything the
// API promises around it (address parsing, name resolution within the
// timeout, the single-start rule, readiness); a backend only runs its loop
// and probes resolved addresses.
//
// The Linux epoll engine (epoll_linux.go) and the net.Dialer fallback for
// other systems (dial_others.go) implement it. A second engine is plugged in
// with newCheckerWith(b, zeroLinger); nothing else in the package needs to
// change for it.
type backend interface {
	// serve prepares the engine and blocks until ctx is done. It calls
	// ready exactly once, as soon as check may be called, passing the fd
	// PollerFd reports (or -1 if the engine has none). When ctx is done it
	// makes every check still waiting return ErrCheckerNotRunning, releases
	// everything it holds (goroutines, fds) and returns nil. If it cannot
	// start, it returns the error without calling ready. The Checker never
	// runs two serve calls of one backend at the same time.
	serve(ctx context.Context, ready func(pollerFd int)) error

	// check probes target once. It returns nil when the target answered
	// SYN-ACK, ErrTimeout when deadline passed first, *ErrConnect when the
	// target refused or was unreachable, ErrCheckerNotRunning when serve is
	// not running (or stops meanwhile), or a *net.OpError for a local
	// failure (e.g. out of fds). zeroLinger asks for the socket to be
	// closed with RST rather than FIN. target is unmapped (an IPv4 address
	// is never in ::ffff: form) and its port is not zero. It is called
	// concurrently from many goroutines.
	check(target netip.AddrPort, deadline time.Time, zeroLinger bool) error
}
