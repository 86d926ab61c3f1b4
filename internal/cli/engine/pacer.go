package engine

import (
	"context"

	"github.com/rawprobe/rawprobe/internal/ratelimit"
)

// pacer spaces the connect engine's attempts 1/rate seconds apart (burst
// 1), with package ratelimit, the pacing the raw engine uses too. A wait
// cut short gives its slot back; one whose slot is after ctx's deadline
// fails at once.
type pacer struct{ l *ratelimit.Limiter }

// newPacer returns the pacer for rate attempts per second, or nil (no
// limit) for rate 0.
func newPacer(rate int) *pacer {
	if rate <= 0 {
		return nil
	}
	return &pacer{ratelimit.New(rate, 1)}
}

// wait blocks until the caller's slot; a nil pacer never blocks.
func (p *pacer) wait(ctx context.Context) error {
	if p == nil {
		return ctx.Err()
	}
	return p.l.Wait(ctx, nil, 1)
}
