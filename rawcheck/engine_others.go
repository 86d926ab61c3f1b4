//go:build !linux

package rawcheck

import (
	"context"
	"fmt"
	"iter"
	"net/netip"
	"runtime"
)

// engine is not implemented outside Linux.
type engine struct{}

var errNotImplemented = fmt.Errorf("rawcheck: not implemented on %s", runtime.GOOS)

func newEngine(settings) (*engine, error) { return nil, errNotImplemented }

func (e *engine) probe(context.Context, netip.AddrPort) (Result, error) {
	return Result{}, errNotImplemented
}

func (e *engine) scan(context.Context, iter.Seq[netip.AddrPort], func(Result)) error {
	return errNotImplemented
}

func (e *engine) sweep(context.Context, iter.Seq[netip.AddrPort], func(Result)) error {
	return errNotImplemented
}

func (e *engine) stats() Stats { return Stats{} }
func (e *engine) close() error { return nil }
