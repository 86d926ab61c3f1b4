//go:build !linux

package testnet

import (
	"context"
	"errors"
	"os/exec"
	"runtime"
	"testing"
)

// errNotImplemented is returned by every operation on a test network
// outside Linux.
var errNotImplemented = errors.New("testnet: not implemented on " + runtime.GOOS)

// New calls RequirePrivileges, which skips (or fails) t outside Linux.
func New(t testing.TB, opts ...Option) *Net {
	t.Helper()
	RequirePrivileges(t)
	t.Fatal(errNotImplemented)
	return nil
}

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

// Listen fails t: not implemented outside Linux.
func (n *Net) Listen(t testing.TB, network, address string) *Listener {
	t.Helper()
	t.Fatal(errNotImplemented)
	return nil
}

// TargetCounters returns an error: not implemented outside Linux.
func (n *Net) TargetCounters() (map[string]uint64, error) { return nil, errNotImplemented }

// BacklogDrops returns an error: not implemented outside Linux.
func BacklogDrops() (uint64, error) { return 0, errNotImplemented }
