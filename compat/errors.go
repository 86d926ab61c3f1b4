package compat

import (
	"errors"
	"os"
	"strconv"
	"syscall"
)

// ErrTimeout is returned by CheckAddr when no answer arrived within the
// timeout (name resolution included). It is always this same value, so
// err == ErrTimeout works; it is a net.Error whose Timeout method reports
// true, and errors.Is(ErrTimeout, os.ErrDeadlineExceeded) holds.
var ErrTimeout error = &timeoutError{}

// ErrCheckerAlreadyStarted is returned by CheckingLoop when the loop of the
// same Checker is already running.
var ErrCheckerAlreadyStarted = errors.New("compat: checking loop already started")

// ErrCheckerNotRunning is returned by CheckAddr when the Checker's
// CheckingLoop is not running (not started yet, or stopped), including when
// the loop stops while the check is waiting for its answer.
var ErrCheckerNotRunning = errors.New("compat: checking loop not running (start CheckingLoop and wait for WaitReady)")

// timeoutError is the type of ErrTimeout.
type timeoutError struct{}

func (*timeoutError) Error() string   { return "compat: check timed out" }
func (*timeoutError) Timeout() bool   { return true }
func (*timeoutError) Temporary() bool { return true }

// Is makes errors.Is(ErrTimeout, os.ErrDeadlineExceeded) true.
func (*timeoutError) Is(target error) bool { return target == os.ErrDeadlineExceeded }

// ErrConnect is the error CheckAddr returns when the target refused the
// connection (RST) or was unreachable (ICMP error, no route): the connect
// itself failed. It carries the errno the kernel reported; errors.Is(err,
// syscall.ECONNREFUSED) and the like work through Unwrap.
type ErrConnect struct {
	// Addr is the address that was checked, as "ip:port".
	Addr string
	// Errno is what connect or SO_ERROR reported.
	Errno syscall.Errno
}

// Error describes the failure, naming the address and the errno.
func (e *ErrConnect) Error() string {
	return "compat: connect " + e.Addr + ": " + e.Errno.Error() + " (errno " + strconv.Itoa(int(e.Errno)) + ")"
}

// ErrorCode returns the errno as an int, e.g. int(syscall.ECONNREFUSED).
func (e *ErrConnect) ErrorCode() int { return int(e.Errno) }

// Unwrap returns the errno, so errors.Is matches syscall errnos and
// os.ErrPermission and similar.
func (e *ErrConnect) Unwrap() error { return e.Errno }
