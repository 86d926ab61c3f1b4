package netlab

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime"

	"github.com/vishvananda/netns"
)

// InProber runs fn on the calling goroutine, locked to its OS thread, with
// that thread inside the prober namespace. Sockets fn creates stay in the
// prober namespace for their whole life; goroutines fn starts do not run
// in it. The thread's namespace is restored afterwards, also when fn
// panics or ends its goroutine (runtime.Goexit, as t.FailNow does).
func (n *Net) InProber(fn func() error) error { return inNamespace(n.ProberNS, fn) }

// InTarget runs fn like InProber, inside the target namespace.
func (n *Net) InTarget(fn func() error) error { return inNamespace(n.TargetNS, fn) }

// inNamespace runs fn on the locked current thread inside namespace name.
func inNamespace(name string, fn func() error) (err error) {
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("netlab: current network namespace: %w", os.NewSyscallError("open", err))
	}
	defer orig.Close()
	ns, err := netns.GetFromName(name)
	if err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("netlab: namespace %s: %w", name, err)
	}
	defer ns.Close()
	if err := netns.Set(ns); err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("netlab: entering namespace %s: %w", name, os.NewSyscallError("setns", err))
	}
	// Make sure: code run here sends test traffic, which must never
	// leave from the host's namespace.
	cur, err := netns.Get()
	same := err == nil && cur.Equal(ns)
	if err == nil {
		cur.Close()
	}
	if !same {
		if netns.Set(orig) == nil {
			runtime.UnlockOSThread()
		}
		return fmt.Errorf("netlab: thread is not in namespace %s after setns (%v)", name, err)
	}
	defer func() {
		if rerr := netns.Set(orig); rerr != nil {
			// Leave the thread locked: it ends with its goroutine
			// instead of carrying the wrong namespace to other code.
			if err == nil {
				err = fmt.Errorf("netlab: leaving namespace %s: %w", name, os.NewSyscallError("setns", rerr))
			}
			return
		}
		runtime.UnlockOSThread()
	}()
	return fn()
}

// ProberCmd returns a command that runs name with args inside the prober
// namespace (`ip netns exec <ProberNS> name args...`).
func (n *Net) ProberCmd(ctx context.Context, name string, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", n.ProberNS, name}, args...)...)
}

// TargetCmd returns a command that runs name with args inside the target
// namespace.
func (n *Net) TargetCmd(ctx context.Context, name string, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", n.TargetNS, name}, args...)...)
}

// SetLoss makes the target drop the given fraction (0 to 1) of the TCP
// SYNs (SYN without ACK) arriving on its link, chosen at random by nft
// numgen; 0 removes the rule. It replaces any loss set before.
func (n *Net) SetLoss(fraction float64) error {
	threshold, err := lossRule(fraction)
	if err != nil {
		return err
	}
	// Creating the table first makes the delete valid when there is none.
	rules := "table inet rawprobe_loss {}\ndelete table inet rawprobe_loss\n"
	if threshold > 0 {
		random := fmt.Sprintf("numgen random mod 10000 < %d ", threshold)
		if threshold >= 10000 {
			random = "" // drop every SYN
		}
		rules += fmt.Sprintf(`table inet rawprobe_loss {
	chain prerouting {
		type filter hook prerouting priority -300; policy accept;
		iifname %q tcp flags & (syn | ack) == syn %scounter drop
	}
}
`, n.TargetLink, random)
	}
	if err := n.nft(rules); err != nil {
		return fmt.Errorf("netlab: setting SYN loss %v: %w", fraction, err)
	}
	return nil
}
