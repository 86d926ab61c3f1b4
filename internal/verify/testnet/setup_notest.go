//go:build linux

package testnet

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

// Setup builds a test network like New, for programs that are not tests
// (`make pcaps`, `make bench`), which have no testing.TB to clean up with.
// It checks the privileges first and returns an error naming what is
// missing. The caller must call remove, also when it fails later; remove
// deletes the namespaces (and with them the veth pair, routes and nft
// rules) and may be called more than once. On error nothing is left.
func Setup(opts ...Option) (n *Net, remove func() error, err error) {
	if missing := missingPrivileges(); missing != "" {
		return nil, nil, fmt.Errorf("testnet: cannot build a test network: %s", missing)
	}
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	if _, err := lossRule(o.loss); err != nil {
		return nil, nil, err
	}
	n = newNames()
	removed := false
	remove = func() error {
		if removed {
			return nil
		}
		removed = true
		if err := n.remove(); err != nil {
			return fmt.Errorf("testnet: removing %s/%s: %w", n.ProberNS, n.TargetNS, err)
		}
		return nil
	}
	if err := n.build(); err != nil {
		remove()
		return nil, nil, fmt.Errorf("testnet: building the test network %s/%s: %w", n.ProberNS, n.TargetNS, err)
	}
	if o.loss > 0 {
		if err := n.SetLoss(o.loss); err != nil {
			remove()
			return nil, nil, err
		}
	}
	return n, remove, nil
}

// ListenOutsideTest is Listen for programs that are not tests: it starts
// a TCP listener in the target namespace that accepts, counts and closes
// connections, and returns an error instead of failing a test. The caller
// closes the Listener.
func (n *Net) ListenOutsideTest(network, address string) (*Listener, error) {
	l, err := n.listen(network, address)
	if err != nil {
		return nil, err
	}
	go l.serve()
	return l, nil
}

// SetupRemovedOnExit is Setup for a program's main flow: it also removes
// the network when the program gets SIGINT or SIGTERM, and then exits
// with status 1. The caller still calls remove on its normal way out.
func SetupRemovedOnExit(opts ...Option) (n *Net, remove func() error, err error) {
	n, remove, err = Setup(opts...)
	if err != nil {
		return nil, nil, err
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-sig
		remove()
		os.Exit(1)
	}()
	return n, remove, nil
}
