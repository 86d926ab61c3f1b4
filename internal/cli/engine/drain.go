package engine

import (
	"context"
	"iter"
	"net/netip"
	"time"

	"github.com/rawprobe/rawprobe/rawcheck"
)

// AttemptTimeout returns the time one attempt waits for a reply, the
// default applied: how long ScanUntil drains after a stop.
func (c Config) AttemptTimeout() time.Duration { return c.timeout() }

// ScanUntil is e.Scan with a stop that loses no result already on its way:
// once stop is closed, no further target is taken from targets (the engine
// may still send those it had taken and its retransmissions), the probes in
// flight go on for at most grace, and every result that arrives meanwhile
// reaches yield; then the scan is cut off, and the targets still in flight
// get no result. It returns nil when the scan ended, whether complete or
// drained after a stop, and otherwise Scan's error. ctx ends it at once, as
// it ends Scan.
//
// Neither engine's Scan drains when its ctx ends (the probes in flight are
// dropped), so the stop is made here by ending the target sequence, after
// which each engine's Scan waits for the probes in flight by itself.
func ScanUntil(ctx context.Context, e Engine, targets iter.Seq[netip.AddrPort], stop <-chan struct{}, grace time.Duration, yield func(rawcheck.Result)) error {
	_, err := scanUntil(ctx, e.Scan, targets, stop, grace, yield)
	return err
}

// Sweeper is an engine that can sweep (rawcheck.Prober.Sweep): the raw
// engine.
type Sweeper interface {
	Sweep(ctx context.Context, targets iter.Seq[netip.AddrPort], yield func(rawcheck.Result)) error
}

// SweepUntil is ScanUntil for s.Sweep: after a stop, the SYNs of the
// targets already taken are sent, and answers reach yield, for at most
// grace. cut reports that grace ran out, so that the SYNs of the last
// rawcheck.SweepBatchSize targets taken may not have been sent.
func SweepUntil(ctx context.Context, s Sweeper, targets iter.Seq[netip.AddrPort], stop <-chan struct{}, grace time.Duration, yield func(rawcheck.Result)) (cut bool, err error) {
	return scanUntil(ctx, s.Sweep, targets, stop, grace, yield)
}

// scanUntil is ScanUntil of the scan function scan; cut reports that the
// grace after a stop ran out (see SweepUntil).
func scanUntil(ctx context.Context, scan func(context.Context, iter.Seq[netip.AddrPort], func(rawcheck.Result)) error,
	targets iter.Seq[netip.AddrPort], stop <-chan struct{}, grace time.Duration, yield func(rawcheck.Result)) (cut bool, err error) {
	sctx, cutOff := context.WithCancel(ctx)
	defer cutOff()
	ended := make(chan struct{})
	defer close(ended)
	go func() {
		select {
		case <-stop:
		case <-ended:
			return
		}
		t := time.NewTimer(grace)
		defer t.Stop()
		select {
		case <-t.C:
			cutOff()
		case <-ended:
		}
	}()
	untilStop := func(y func(netip.AddrPort) bool) {
		for t := range targets {
			select {
			case <-stop:
				return
			default:
			}
			if !y(t) {
				return
			}
		}
	}
	err = scan(sctx, untilStop, yield)
	if err != nil && sctx.Err() != nil && ctx.Err() == nil {
		return true, nil // cut off after the grace of a stop
	}
	return false, err
}
