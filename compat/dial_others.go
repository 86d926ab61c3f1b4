//go:build !linux

package compat

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"sync/atomic"
	"syscall"
	"time"
)

// newDefaultBackend returns the net.Dialer fallback.
func newDefaultBackend() backend { return &dialBackend{} }

// dialBackend is the fallback for systems without the epoll engine: it
// completes the connection with net.Dialer and closes it at once (with
// RST when zero linger is asked for). The target sees a connection, so
// this is only a compatible check, not a half-open one.
type dialBackend struct {
	ctx atomic.Pointer[context.Context] // the running loop's context
}

func (b *dialBackend) serve(ctx context.Context, ready func(pollerFd int)) error {
	b.ctx.Store(&ctx)
	ready(-1)
	<-ctx.Done()
	b.ctx.Store(nil)
	return nil
}

func (b *dialBackend) check(target netip.AddrPort, deadline time.Time, zeroLinger bool) error {
	pctx := b.ctx.Load()
	if pctx == nil {
		return ErrCheckerNotRunning
	}
	var d net.Dialer
	ctx, cancel := context.WithDeadline(*pctx, deadline)
	defer cancel()
	conn, err := d.DialContext(ctx, "tcp", target.String())
	if err == nil {
		if tc, ok := conn.(*net.TCPConn); ok && zeroLinger {
			tc.SetLinger(0)
		}
		conn.Close()
		return nil
	}
	if (*pctx).Err() != nil {
		return ErrCheckerNotRunning
	}
	if ctx.Err() != nil {
		return ErrTimeout
	}
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return &ErrConnect{Addr: target.String(), Errno: errno}
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return ErrTimeout
	}
	return err
}
