//go:build !linux

package netlab

import (
	"context"
	"errors"
	"net/netip"
	"os/exec"
	"runtime"
	"time"
)

// errNotImplemented is returned by every operation on a network outside
// Linux.
var errNotImplemented = errors.New("netlab: not implemented on " + runtime.GOOS)

// Setup returns an error: networks need Linux network namespaces.
func Setup(opts ...Option) (n *Net, remove func() error, err error) {
	return nil, nil, errNotImplemented
}

// SetupRemovedOnExit returns an error: networks need Linux network
// namespaces.
func SetupRemovedOnExit(opts ...Option) (n *Net, remove func() error, err error) {
	return nil, nil, errNotImplemented
}

// RemoveStale removes nothing: there are no network namespaces outside
// Linux.
func RemoveStale() (removed []string) { return nil }

// InProber returns an error: not implemented outside Linux.
func (n *Net) InProber(fn func() error) error { return errNotImplemented }

// InTarget returns an error: not implemented outside Linux.
func (n *Net) InTarget(fn func() error) error { return errNotImplemented }

// ProberCmd returns a command that fails: not implemented outside Linux.
func (n *Net) ProberCmd(ctx context.Context, name string, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", n.ProberNS, name}, args...)...)
}

// TargetCmd returns a command that fails: not implemented outside Linux.
func (n *Net) TargetCmd(ctx context.Context, name string, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", n.TargetNS, name}, args...)...)
}

// SetLoss returns an error: not implemented outside Linux.
func (n *Net) SetLoss(fraction float64) error { return errNotImplemented }

// Listen returns an error: not implemented outside Linux.
func (n *Net) Listen(network, address string) (*Listener, error) { return nil, errNotImplemented }

// TargetCounters returns an error: not implemented outside Linux.
func (n *Net) TargetCounters() (map[string]uint64, error) { return nil, errNotImplemented }

// BacklogDrops returns an error: not implemented outside Linux.
func BacklogDrops() (uint64, error) { return 0, errNotImplemented }

// AddDelayPath returns an error: not implemented outside Linux.
func (n *Net) AddDelayPath(p netip.Prefix, delay, jitter time.Duration) (*DelayPath, error) {
	return nil, errNotImplemented
}
