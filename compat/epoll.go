package compat

import (
	"context"
	"net/netip"
	"time"

	"github.com/rawprobe/rawprobe/internal/epollcheck"
)

// epollBackend is the default Backend: the epoll engine, its outcomes
// turned into the errors tcp-shaker returns.
type epollBackend struct {
	e *epollcheck.Engine
}

func (b epollBackend) Serve(ctx context.Context, ready func(pollerFd int)) error {
	return b.e.Serve(ctx, ready)
}

func (b epollBackend) Check(target netip.AddrPort, deadline time.Time, zeroLinger bool) error {
	return outcomeError(target, b.e.Check(target, deadline, zeroLinger))
}

// outcomeError is the Checker's error for outcome o of a check of target.
// A connect() that failed, whether on an answer (RST, ICMP error) or at
// once (no route, or another refusal by the kernel), is an *ErrConnect
// with its errno, as with tcp-shaker.
func outcomeError(target netip.AddrPort, o epollcheck.Outcome) error {
	switch o.Kind {
	case epollcheck.Open:
		return nil
	case epollcheck.Timeout:
		return ErrTimeout
	case epollcheck.Stopped:
		return ErrCheckerNotRunning
	case epollcheck.Refused, epollcheck.Unreachable, epollcheck.NoRoute:
		return &ErrConnect{Addr: target.String(), Errno: o.Errno}
	}
	if o.Errno != 0 {
		return &ErrConnect{Addr: target.String(), Errno: o.Errno}
	}
	return o.Err
}
