package compat

import (
	"context"
	"net/netip"
	"time"
)

// Backend is the engine behind a Checker. The Checker does everything the
// API promises around it (address parsing, name resolution within the
// timeout, the single-start rule, readiness); a Backend only runs its loop
// and probes resolved addresses. NewChecker's Backend is the epoll engine
// (the net.Dialer fallback on other systems); NewCheckerWithBackend puts
// another engine behind the same API, as package compat/rawcompat does
// with the raw SYN engine.
type Backend interface {
	// Serve prepares the engine and blocks until ctx is done. It calls
	// ready exactly once, as soon as Check may be called, passing the fd
	// PollerFd reports (or -1 if the engine has none). When ctx is done it
	// makes every Check still waiting return ErrCheckerNotRunning,
	// releases everything it holds (goroutines, fds) and returns nil. If
	// it cannot start, it returns the error without calling ready. The
	// Checker never runs two Serve calls of one Backend at the same time.
	Serve(ctx context.Context, ready func(pollerFd int)) error

	// Check probes target once. It returns nil when the target answered
	// SYN-ACK, ErrTimeout when deadline passed first, *ErrConnect when the
	// target refused or was unreachable, ErrCheckerNotRunning when Serve
	// is not running (or stops meanwhile), or a *net.OpError for a local
	// failure (e.g. out of fds). zeroLinger asks for the socket to be
	// closed with RST rather than FIN. target is unmapped (an IPv4 address
	// is never in ::ffff: form) and its port is not zero. It is called
	// concurrently from many goroutines.
	Check(target netip.AddrPort, deadline time.Time, zeroLinger bool) error
}
