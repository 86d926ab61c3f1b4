package rawcheck

import (
	"context"
	"sync"
	"time"
)

// tokenBucket limits packets per second. Senders take tokens for a whole
// batch at once; the bucket may go into debt, and the taker then sleeps
// until the debt is paid, so batches larger than the burst still pass and
// takers are served in order.
type tokenBucket struct {
	mu     sync.Mutex
	perSec float64
	burst  float64
	tokens float64
	last   time.Time
}

// newTokenBucket returns a bucket for rate packets per second, or nil (no
// limit) for rate 0. The burst is 10 ms worth of packets, at least one
// batch.
func newTokenBucket(rate, batch int) *tokenBucket {
	if rate <= 0 {
		return nil
	}
	burst := max(float64(rate)/100, float64(batch), 1)
	return &tokenBucket{perSec: float64(rate), burst: burst, tokens: burst, last: time.Now()}
}

// reserve takes n tokens and returns how long the caller must wait before
// sending them.
func (b *tokenBucket) reserve(n int, now time.Time) time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.tokens = min(b.burst, b.tokens+now.Sub(b.last).Seconds()*b.perSec)
	b.last = now
	b.tokens -= float64(n)
	if b.tokens >= 0 {
		return 0
	}
	return time.Duration(-b.tokens / b.perSec * float64(time.Second))
}

// wait takes n tokens and sleeps until they may be sent, or until ctx or
// done ends. A nil bucket never waits.
func (b *tokenBucket) wait(ctx context.Context, done <-chan struct{}, n int) error {
	if b == nil {
		return nil
	}
	d := b.reserve(n, time.Now())
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-done:
		return ErrClosed
	}
}
