// Package ratelimit is the one meaning of rawprobe's --rate for both
// engines: SYNs (attempts, retries included) per second, paced by a token
// bucket from golang.org/x/time/rate.
//
// It adds four things to rate.Limiter's WaitN: a wait also ends when the
// engine closes (a done channel), a take larger than the burst is split
// into burst-sized reservations instead of failing, a wait whose slot lies
// after the context's deadline fails at once with an error for which
// errors.Is(err, context.DeadlineExceeded) holds, and every wait that ends
// early (deadline, cancel, close) gives back the tokens it was waiting for,
// so abandoned waits leave no debt behind them for later callers (a take
// split into reservations keeps the ones already granted).
//
// The last needs care: rate.Reservation.Cancel restores only the tokens no
// later reservation has built on, so with many concurrent waits cancelled
// in any order most of their debt stays (a test shows it). Here waiters
// queue in turn and only the one at the head holds a reservation; it is
// always the newest, so its Cancel restores everything. The queue also
// keeps takers in order: a large batch is not starved by single probes.
package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"time"

	"golang.org/x/time/rate"
)

// ErrDeadline is returned (wrapped with the wait it would have needed) when
// the tokens asked for are not free before the context's deadline, whether
// that is known at once or the deadline passes during the wait: whoever
// gets it sent nothing. It matches context.DeadlineExceeded with errors.Is.
var ErrDeadline = fmt.Errorf("ratelimit: no send slot before the deadline: %w", context.DeadlineExceeded)

// ErrDone is returned when the done channel closes during a wait.
var ErrDone = errors.New("ratelimit: closed while waiting for a send slot")

// Limiter paces events to a rate. A nil *Limiter never waits.
type Limiter struct {
	lim  *rate.Limiter
	turn chan struct{} // holds a token while a waiter is at the head
}

// New returns a Limiter for perSecond events per second with the given
// burst (at least 1), or nil (no limit) when perSecond is 0 or less.
func New(perSecond, burst int) *Limiter {
	if perSecond <= 0 {
		return nil
	}
	return &Limiter{lim: rate.NewLimiter(rate.Limit(perSecond), max(burst, 1)), turn: make(chan struct{}, 1)}
}

// Burst returns the most events one reservation may take; 0 for a nil
// Limiter.
func (l *Limiter) Burst() int {
	if l == nil {
		return 0
	}
	return l.lim.Burst()
}

// Wait takes n tokens and blocks until they may be spent. It returns nil
// then; ErrDeadline at once if that time is after ctx's deadline; ctx's
// error if ctx ends first; ErrDone if done closes first (done may be nil).
// In every case but nil the tokens waited for are given back; when n is
// larger than the burst, the burst-sized parts granted before the failure
// stay spent, and the deadline is checked for each part in turn. It
// allocates only when it has to sleep.
func (l *Limiter) Wait(ctx context.Context, done <-chan struct{}, n int) error {
	if l == nil {
		return ctx.Err()
	}
	burst := l.lim.Burst()
	for n > 0 {
		k := min(n, burst)
		if err := l.wait(ctx, done, k); err != nil {
			return err
		}
		n -= k
	}
	return nil
}

// wait is Wait for k <= burst tokens.
func (l *Limiter) wait(ctx context.Context, done <-chan struct{}, k int) error {
	select {
	case l.turn <- struct{}{}:
	default:
		select {
		case l.turn <- struct{}{}:
		case <-ctx.Done():
			return ctxErr(ctx)
		case <-done:
			return ErrDone
		}
	}
	defer func() { <-l.turn }()
	if ctx.Err() != nil {
		return ctxErr(ctx)
	}
	now := time.Now()
	r := l.lim.ReserveN(now, k)
	d := r.DelayFrom(now)
	if d == 0 {
		return nil
	}
	if dl, ok := ctx.Deadline(); ok && now.Add(d).After(dl) {
		r.CancelAt(now)
		return fmt.Errorf("%w (the next slot is %v away, the deadline %v)", ErrDeadline, d.Round(time.Microsecond), dl.Sub(now).Round(time.Microsecond))
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		r.Cancel()
		return ctxErr(ctx)
	case <-done:
		r.Cancel()
		return ErrDone
	}
}

// ctxErr is ctx's error for a wait it ended, ErrDeadline when its deadline
// passed: the tokens were not free before it, so the caller sent nothing.
func ctxErr(ctx context.Context) error {
	err := ctx.Err()
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%w (the deadline passed while waiting)", ErrDeadline)
	}
	return err
}
