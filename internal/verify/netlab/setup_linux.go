//go:build linux

package netlab

import (
	"fmt"
	"os"
	"os/signal"
	"sync"
	"syscall"
)

// Setup builds a fresh network: two namespaces, a veth pair, the
// addresses, routes, nft rules and namespaced sysctls described in the
// package documentation. It checks the privileges first and returns an
// error naming what is missing (see MissingPrivileges). The caller must
// call remove, also when it fails later; remove deletes the namespaces
// (and with them the veth pair, routes and nft rules) and may be called
// more than once. On error nothing is left.
func Setup(opts ...Option) (n *Net, remove func() error, err error) {
	if missing := MissingPrivileges(); missing != "" {
		return nil, nil, fmt.Errorf("netlab: cannot build a network: %s", missing)
	}
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	if _, err := lossRule(o.loss); err != nil {
		return nil, nil, err
	}
	n = newNames()
	// Once: SetupRemovedOnExit's signal handler may call remove while the
	// program's own deferred call runs.
	var once sync.Once
	var removeErr error
	remove = func() error {
		once.Do(func() {
			if err := n.remove(); err != nil {
				removeErr = fmt.Errorf("netlab: removing %s/%s: %w", n.ProberNS, n.TargetNS, err)
			}
		})
		return removeErr
	}
	if err := n.build(); err != nil {
		remove()
		return nil, nil, fmt.Errorf("netlab: building the network %s/%s: %w", n.ProberNS, n.TargetNS, err)
	}
	if o.loss > 0 {
		if err := n.SetLoss(o.loss); err != nil {
			remove()
			return nil, nil, err
		}
	}
	return n, remove, nil
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
