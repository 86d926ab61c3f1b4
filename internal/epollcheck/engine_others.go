//go:build !linux

package epollcheck

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"syscall"
	"time"
)

// Elsewhere than on Linux the engine is a fallback: it completes the
// connection with net.Dialer and closes it at once (with RST when zero
// linger is asked for). The target sees a connection, so this is only a
// compatible check, not a half-open one. Its NoRoute cannot be told from
// Unreachable: a failed dial is Unreachable.

// running is the state of a running fallback: the context of Serve.
type running struct {
	ctx context.Context
}

func (e *Engine) serve(ctx context.Context, ready func(pollerFd int)) error {
	e.cur.Store(&running{ctx: ctx})
	ready(-1)
	<-ctx.Done()
	e.cur.Store(nil)
	return nil
}

func (e *Engine) check(target netip.AddrPort, deadline time.Time, zeroLinger bool) Outcome {
	r := e.cur.Load()
	if r == nil {
		return stopped
	}
	var d net.Dialer
	ctx, cancel := context.WithDeadline(r.ctx, deadline)
	defer cancel()
	conn, err := d.DialContext(ctx, "tcp", target.String())
	if err == nil {
		if tc, ok := conn.(*net.TCPConn); ok && zeroLinger {
			tc.SetLinger(0)
		}
		conn.Close()
		return Outcome{Kind: Open}
	}
	if r.ctx.Err() != nil {
		return stopped
	}
	if ctx.Err() != nil {
		return Outcome{Kind: Timeout}
	}
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return errnoOutcome(errno)
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return Outcome{Kind: Timeout}
	}
	return localError(err)
}
