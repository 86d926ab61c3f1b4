package compat

import (
	"errors"
	"net"
	"net/netip"
	"syscall"
	"testing"

	"github.com/rawprobe/rawprobe/internal/epollcheck"
)

// TestOutcomeError: each outcome of the epoll engine becomes the error
// tcp-shaker returns for it; a failed connect, on an answer or at once,
// is an *ErrConnect carrying its errno.
func TestOutcomeError(t *testing.T) {
	target := netip.MustParseAddrPort("192.0.2.1:80")
	local := &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("too many open files")}
	connectErr := func(errno syscall.Errno) func(error) bool {
		return func(err error) bool {
			var ce *ErrConnect
			return errors.As(err, &ce) && ce.Errno == errno && ce.Addr == "192.0.2.1:80"
		}
	}
	for _, tc := range []struct {
		o    epollcheck.Outcome
		want func(error) bool
	}{
		{epollcheck.Outcome{Kind: epollcheck.Open}, func(err error) bool { return err == nil }},
		{epollcheck.Outcome{Kind: epollcheck.Timeout}, func(err error) bool { return err == ErrTimeout }},
		{epollcheck.Outcome{Kind: epollcheck.Stopped, Err: epollcheck.ErrStopped}, func(err error) bool { return err == ErrCheckerNotRunning }},
		{epollcheck.Outcome{Kind: epollcheck.Refused, Errno: syscall.ECONNREFUSED}, connectErr(syscall.ECONNREFUSED)},
		{epollcheck.Outcome{Kind: epollcheck.Unreachable, Errno: syscall.EHOSTUNREACH}, connectErr(syscall.EHOSTUNREACH)},
		{epollcheck.Outcome{Kind: epollcheck.NoRoute, Errno: syscall.ENETUNREACH}, connectErr(syscall.ENETUNREACH)},
		{epollcheck.Outcome{Kind: epollcheck.LocalError, Errno: syscall.EADDRNOTAVAIL, Err: local}, connectErr(syscall.EADDRNOTAVAIL)},
		{epollcheck.Outcome{Kind: epollcheck.LocalError, Err: local}, func(err error) bool { return err == local }},
	} {
		if err := outcomeError(target, tc.o); !tc.want(err) {
			t.Errorf("%v (errno %d): got %v (%T)", tc.o.Kind, tc.o.Errno, err, err)
		}
	}
}
