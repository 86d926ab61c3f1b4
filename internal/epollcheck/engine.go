package epollcheck

import (
	"context"
	"net/netip"
	"sync/atomic"
	"time"
)

// Engine checks TCP ports with non-blocking connect() calls; see the
// package documentation. Make one with New, run Serve, then call Check from
// any number of goroutines.
type Engine struct {
	// shards is the number of epoll instances and loop threads on Linux;
	// 0 means defaultShards(). Tests set it.
	shards int
	cur    atomic.Pointer[running] // the running engine, nil when stopped
}

// New returns an Engine that is not running yet.
func New() *Engine { return &Engine{} }

// Serve prepares the engine and blocks until ctx is done. It calls ready
// exactly once, as soon as Check may be called, with the fd of the
// engine's first epoll instance (-1 where there is none). When ctx is done
// it makes every check still waiting return a Stopped outcome, releases
// everything it holds (goroutines, fds) and returns nil. If it cannot
// start, it returns the error without calling ready. Serve must not run
// twice at the same time on one Engine; once it has returned it may be
// called again.
func (e *Engine) Serve(ctx context.Context, ready func(pollerFd int)) error {
	return e.serve(ctx, ready)
}

// Check probes target once and waits for the outcome, until deadline at
// the latest. zeroLinger closes the socket with RST instead of FIN, so the
// handshake is never completed on the target's side. target's port must
// not be 0; an IPv4-mapped IPv6 address is checked as IPv4, and an IPv6
// zone names the interface. Check is safe for concurrent use and, for an
// address without zone, allocates nothing unless the outcome is a
// LocalError.
func (e *Engine) Check(target netip.AddrPort, deadline time.Time, zeroLinger bool) Outcome {
	if a := target.Addr(); a.Is4In6() {
		target = netip.AddrPortFrom(a.Unmap(), target.Port())
	}
	return e.check(target, deadline, zeroLinger)
}
