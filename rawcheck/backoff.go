package rawcheck

import (
	"context"
	"sync"
	"time"
)

// The send rate backs off when the engine itself loses packets: the kernel
// refused SYNs for want of buffer space (ENOBUFS), or a receive ring was
// full and dropped replies. Either means the engine sends faster than this
// host can carry, and every packet lost that way costs a retransmission or
// a wrong timeout. Each such event doubles a pause taken before each batch
// of SYNs (from backoffMinPause up to backoffMaxPause); each
// backoffRecovery without one halves it, down to no pause, so the rate
// recovers once the host keeps up. The pause comes on top of Config.Rate.
const (
	backoffMinPause = 50 * time.Microsecond
	backoffMaxPause = 20 * time.Millisecond
	backoffRecovery = 20 * time.Millisecond
)

// sendBackoff is the pause before each batch. It is safe for concurrent
// use.
type sendBackoff struct {
	mu        sync.Mutex
	pause     time.Duration
	changed   int64  // engine clock of the last change of pause
	ringDrops uint64 // ring drops seen so far
	events    uint64 // times the pause grew
}

// observe records what a batch sent at now saw: whether the kernel
// refused a packet for want of buffers, and the engine's ring drops so far.
func (b *sendBackoff) observe(now int64, noBuffers bool, ringDrops uint64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	dropped := ringDrops > b.ringDrops
	b.ringDrops = max(b.ringDrops, ringDrops)
	if !noBuffers && !dropped {
		return
	}
	b.pause = min(max(2*b.pause, backoffMinPause), backoffMaxPause)
	b.changed = now
	b.events++
}

// current returns the pause before a batch sent at now, halving it for
// every backoffRecovery without a loss.
func (b *sendBackoff) current(now int64) time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	for b.pause > 0 && now-b.changed >= int64(backoffRecovery) {
		b.pause /= 2
		if b.pause < backoffMinPause {
			b.pause = 0
		}
		b.changed += int64(backoffRecovery)
	}
	return b.pause
}

// backoffs returns how many times the pause grew.
func (b *sendBackoff) backoffs() uint64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.events
}

// wait sleeps the current pause; it returns ErrClosed when done closes
// first and ctx's error when ctx ends first.
func (b *sendBackoff) wait(ctx context.Context, done <-chan struct{}, now int64) error {
	d := b.current(now)
	if d == 0 {
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
