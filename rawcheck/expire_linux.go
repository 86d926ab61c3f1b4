package rawcheck

import (
	"context"
	"net/netip"
	"time"
)

// expireLoop is the engine's one timer. The pending table keeps one expiry
// list per timeout class, each in deadline order, so the probe due first is
// the earliest of their heads: each pass re-sends the probes due that have
// attempts left (keeping their source port, so the cookie is the same and a
// late answer to an earlier attempt still counts), each with the timeout
// its prefix's RTT estimate gives that attempt, and finishes the others as
// Timeout, then sleeps until the next probe is due. A provisional timeout
// (chosen before the prefix had an RTT estimate) is looked at again when
// due: it waits on in the class the estimate now gives, or, still without
// one, twice as long as it has waited, up to Config.Timeout. The last
// attempt always waits the whole Config.Timeout before the probe is
// reported as Timeout, looked at again each time its age doubles in case
// the loss estimate asks for another attempt by then. How many attempts a
// probe gets is decided when its latest attempt times out, from the loss
// and the open ports measured by then.
func (e *engine) expireLoop() {
	defer e.wg.Done()
	x := &expiry{
		e:        e,
		b:        newSendBatch(sendBatchSize),
		resend:   make([]retransmission, 0, sendBatchSize),
		timedOut: make([]uint32, 0, sendBatchSize),
		timer:    time.NewTimer(time.Hour),
	}
	defer x.timer.Stop()
	for {
		e.neigh.recheck()
		wait := x.pass()
		if !x.send() || !x.sleep(wait) {
			return
		}
	}
}

// expiry is the state of expireLoop's passes, allocated once.
type expiry struct {
	e        *engine
	b        *sendBatch
	resend   []retransmission // of the pass, sent after it
	timedOut []uint32         // entries (index + 1) ending as Timeout, finished in batches
	timer    *time.Timer
}

// retransmission is a probe whose next attempt the pass decided.
type retransmission struct {
	target netip.AddrPort
	sport  uint16
	nonce  uint32
	rt     *route
}

// pass looks at every probe due, under e.mu, and returns how long until
// the next one is due: -1 when none is pending, 0 when the pass stopped
// with probes still due (its retransmissions filled a batch).
func (x *expiry) pass() time.Duration {
	e := x.e
	e.mu.Lock()
	defer e.mu.Unlock()
	// Every route a pending probe names was stored before its insert.
	var routes []*route
	if rs := e.routes.Load(); rs != nil {
		routes = *rs
	}
	now := e.now()
	opens := e.count.open.Load() - e.count.sweepOpen.Load()
	attempts := e.timing.attempts(opens, e.table.len(), e.count.late.Load())
	wait := time.Duration(-1)
	for i, due := e.table.next(); i != 0; i, due = e.table.next() {
		if due > now {
			wait = time.Duration(due - now)
			break
		}
		if !x.due(i, routes[e.table.at(i).route], now, attempts) {
			wait = 0
			break
		}
	}
	x.timedOut = e.finishTimeoutsLocked(x.timedOut)
	return wait
}

// due decides for probe i, whose latest attempt is due at now, sent via
// rt, with attempts allowed so far: it ends, waits on or is retransmitted.
// It returns false, leaving i as it is, when the pass's retransmissions
// are a full batch. e.mu must be held.
func (x *expiry) due(i uint32, rt *route, now int64, attempts int) bool {
	e := x.e
	p := e.table.at(i)
	if e.nextHopUnresolved(rt, p.key.target().Addr(), now) {
		e.finishLocked(i, Result{Target: p.key.target(), State: Unreachable, Attempts: int(p.attempts)})
		return true
	}
	if p.provisional {
		expired, class, provisional := e.timing.recheck(&p.key.addr, int(p.attempts), now-p.sentAt)
		if !expired {
			e.table.requeue(i, class)
			p.provisional = provisional
			return true
		}
	}
	if int(p.attempts) >= attempts {
		// The last attempt decides, so it waits the whole Config.Timeout:
		// a reply slower than the RTT estimate (a loaded host, a queue)
		// still counts.
		if elapsed := now - p.sentAt; elapsed < e.timing.ceiling {
			// Looked at again after twice its age: by then the loss
			// estimate may ask for another attempt.
			e.table.requeue(i, e.timing.classOf(min(2*elapsed, e.timing.ceiling)))
			p.provisional = false
			return true
		}
		e.table.unlink(i)
		if x.timedOut = append(x.timedOut, i); len(x.timedOut) == cap(x.timedOut) {
			x.timedOut = e.finishTimeoutsLocked(x.timedOut)
		}
		return true
	}
	if len(x.resend) == cap(x.resend) {
		return false
	}
	x.resend = append(x.resend, retransmission{target: p.key.target(), sport: p.key.sport, nonce: p.nonce, rt: rt})
	class, provisional := e.timing.timeout(&p.key.addr, int(p.attempts)+1)
	e.table.touch(i, now, class)
	p.provisional = provisional
	return true
}

// send sends the pass's retransmissions; false when the engine closed.
func (x *expiry) send() bool {
	e, b := x.e, x.b
	if len(x.resend) == 0 {
		return true
	}
	if e.bucket.wait(context.Background(), e.closed, len(x.resend)) != nil {
		return false
	}
	if e.backoff.wait(context.Background(), e.closed, e.now()) != nil {
		return false
	}
	for _, r := range x.resend {
		e.fill(b, r.rt, r.target, r.sport, r.nonce)
	}
	if e.sendBatch(b) != nil {
		return false
	}
	// Only the retransmissions the kernel took count; the probes of
	// those it refused end now.
	e.count.retransmitted.Add(uint64(b.len() - len(b.failed)))
	e.settleRefused(b, true)
	b.reset()
	x.resend = x.resend[:0]
	return true
}

// sleep waits wait (see pass), or until woken when nothing is pending;
// false when the engine closed.
func (x *expiry) sleep(wait time.Duration) bool {
	e := x.e
	switch {
	case wait == 0:
		return true
	case wait < 0:
		select {
		case <-e.wake:
			return true
		case <-e.closed:
			return false
		}
	default:
		x.timer.Reset(max(wait, time.Millisecond))
		select {
		case <-x.timer.C:
			return true
		case <-e.closed:
			return false
		}
	}
}

// finishTimeoutsLocked ends the probes timedOut lists (entry index + 1,
// already taken off their expiry lists) as Timeout and returns timedOut
// emptied. e.mu must be held.
//
// Finishing a probe writes the memory of finished probes and clears its
// index slot, two places as good as random in tables of MBs: one by one,
// each is a cache miss waited for in turn. Prefetching them for the whole
// batch first lets the misses overlap.
func (e *engine) finishTimeoutsLocked(timedOut []uint32) []uint32 {
	if len(timedOut) == 0 {
		return timedOut
	}
	for _, i := range timedOut {
		p := e.table.at(i)
		e.nonces.prefetch(&p.key)
		e.table.prefetch(p.hash)
	}
	for _, i := range timedOut {
		p := e.table.at(i)
		e.finishUnlinkedLocked(i, Result{Target: p.key.target(), State: Timeout, Attempts: int(p.attempts)})
	}
	return timedOut[:0]
}
