package epollcheck

import (
	"errors"
	"syscall"
)

// Kind says how a check ended.
type Kind uint8

// The kinds of Outcome. The zero Kind is none of them.
const (
	// Open: the target answered the SYN with SYN-ACK.
	Open Kind = iota + 1
	// Refused: the connect failed with ECONNREFUSED, almost always
	// because the target answered with RST (an ICMP port unreachable
	// reads the same).
	Refused
	// Unreachable: the SYN left and the connect then failed with another
	// errno, read from SO_ERROR: an ICMP or ICMPv6 error such as
	// EHOSTUNREACH or ENETUNREACH in practice.
	Unreachable
	// NoRoute: connect() itself failed at once with ENETUNREACH or
	// EHOSTUNREACH because the kernel has no usable route to the target.
	// The route is looked up before the SYN is built, so nothing was
	// sent.
	NoRoute
	// Timeout: no answer came before the deadline.
	Timeout
	// Stopped: the engine was not running, or stopped while the check
	// waited.
	Stopped
	// LocalError: the check could not be made (out of fds, another
	// local connect() failure, ...); Outcome.Err says why. Nothing was
	// sent, or nothing is known about what was.
	LocalError
)

// String returns the kind's lower-case name, e.g. "open".
func (k Kind) String() string {
	switch k {
	case Open:
		return "open"
	case Refused:
		return "refused"
	case Unreachable:
		return "unreachable"
	case NoRoute:
		return "noroute"
	case Timeout:
		return "timeout"
	case Stopped:
		return "stopped"
	case LocalError:
		return "localerror"
	}
	return "unknown"
}

// Outcome is the result of one check. It is a small value: making one
// allocates nothing, except the error of a LocalError.
type Outcome struct {
	// Kind says how the check ended.
	Kind Kind
	// Errno is the errno the kernel reported: ECONNREFUSED for Refused,
	// SO_ERROR for Unreachable, connect()'s for NoRoute, and connect()'s
	// for a LocalError when connect() failed (0 for other local
	// failures). It is 0 for the other kinds.
	Errno syscall.Errno
	// Err describes a LocalError (a *net.OpError), and is ErrStopped for
	// Stopped; nil otherwise.
	Err error
}

// ErrStopped is the Err of a Stopped outcome.
var ErrStopped = errors.New("epollcheck: engine not running")

// stopped is the outcome of a check the engine is not running for.
var stopped = Outcome{Kind: Stopped, Err: ErrStopped}

// localError is the outcome of a check that could not be made.
func localError(err error) Outcome { return Outcome{Kind: LocalError, Err: err} }

// errnoOutcome classifies a connect that ended with errno after its SYN
// left (0: connected).
func errnoOutcome(errno syscall.Errno) Outcome {
	switch errno {
	case 0:
		return Outcome{Kind: Open}
	case syscall.ECONNREFUSED:
		return Outcome{Kind: Refused, Errno: errno}
	}
	return Outcome{Kind: Unreachable, Errno: errno}
}
