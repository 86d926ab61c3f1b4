package compat

import (
	"context"
	"net/netip"
	"sync/atomic"
	"time"
)

// recordingBackend is an engine that sends nothing: it counts the checks
// it is asked for and answers nil. Tests use it to prove that bad input
// never reaches an engine.
type recordingBackend struct {
	calls atomic.Int64
	last  atomic.Pointer[netip.AddrPort]
}

func (r *recordingBackend) Serve(ctx context.Context, ready func(int)) error {
	ready(-1)
	<-ctx.Done()
	return nil
}

func (r *recordingBackend) Check(target netip.AddrPort, _ time.Time, _ bool) error {
	r.calls.Add(1)
	r.last.Store(&target)
	return nil
}
