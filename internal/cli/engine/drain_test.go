package engine

import (
	"context"
	"iter"
	"net/netip"
	"testing"
	"time"

	"github.com/rawprobe/rawprobe/rawcheck"
)

// heldEngine takes targets, answers half of those it took when the
// sequence ends and then waits for ctx: the others' replies never come.
type heldEngine struct {
	taken   int
	onTaken func(int)
}

func (h *heldEngine) Name() string { return "held" }
func (h *heldEngine) Probe(context.Context, netip.AddrPort) (rawcheck.Result, error) {
	return rawcheck.Result{}, nil
}
func (h *heldEngine) Scan(ctx context.Context, ts iter.Seq[netip.AddrPort], yield func(rawcheck.Result)) error {
	var held []netip.AddrPort
	for t := range ts {
		held = append(held, t)
		h.taken++
		h.onTaken(h.taken)
	}
	for _, t := range held[:len(held)/2] {
		yield(rawcheck.Result{Target: t, State: rawcheck.Open})
	}
	<-ctx.Done()
	return ctx.Err()
}
func (h *heldEngine) Stats() rawcheck.Stats { return rawcheck.Stats{} }
func (h *heldEngine) Close() error          { return nil }

func endless(yield func(netip.AddrPort) bool) {
	for i := uint16(1); ; i++ {
		if !yield(netip.AddrPortFrom(netip.MustParseAddr("198.18.0.1"), i)) {
			return
		}
	}
}

// TestScanUntilDrains: after stop no target is taken, the results that
// come within the grace reach yield, and the scan is cut off after it
// with a nil error. The control: ctx's end is Scan's error.
func TestScanUntilDrains(t *testing.T) {
	stop := make(chan struct{})
	h := &heldEngine{onTaken: func(n int) {
		if n == 10 {
			close(stop)
		}
	}}
	var got int
	start := time.Now()
	err := ScanUntil(context.Background(), h, endless, stop, 100*time.Millisecond, func(rawcheck.Result) { got++ })
	if err != nil || h.taken != 10 || got != 5 {
		t.Errorf("err %v, taken %d (want 10), results %d (want 5)", err, h.taken, got)
	}
	if d := time.Since(start); d < 100*time.Millisecond {
		t.Errorf("cut off after %v, before the grace", d)
	}

	ctx, cancel := context.WithCancel(context.Background())
	h = &heldEngine{onTaken: func(n int) {
		if n == 10 {
			cancel()
		}
	}}
	never := make(chan struct{})
	err = ScanUntil(ctx, h, func(y func(netip.AddrPort) bool) {
		for t := range endless {
			if ctx.Err() != nil || !y(t) {
				return
			}
		}
	}, never, time.Hour, func(rawcheck.Result) {})
	if err != context.Canceled {
		t.Errorf("ctx ended: err %v, want context.Canceled", err)
	}
}
