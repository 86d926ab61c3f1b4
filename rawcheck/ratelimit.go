package rawcheck

import (
	"context"
	"errors"

	"github.com/rawprobe/rawprobe/internal/ratelimit"
)

// sendLimiter paces the engine's SYNs (first attempts and retries alike)
// to Config.Rate with package ratelimit, the pacing the connect engine
// uses too. Senders take tokens for a whole batch at once; the burst is
// 10 ms worth of packets, at least one batch. A wait cut short gives its
// tokens back.
type sendLimiter struct{ l *ratelimit.Limiter }

// newSendLimiter returns the limiter for rate packets per second; rate 0
// means no limit.
func newSendLimiter(rate, batch int) sendLimiter {
	return sendLimiter{ratelimit.New(rate, max(rate/100, batch, 1))}
}

// wait takes n tokens and blocks until they may be sent. It fails at once
// when that is after ctx's deadline, and returns ErrClosed when done
// closes first.
func (s sendLimiter) wait(ctx context.Context, done <-chan struct{}, n int) error {
	err := s.l.Wait(ctx, done, n)
	if errors.Is(err, ratelimit.ErrDone) {
		return ErrClosed
	}
	return err
}
