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
	b := newSendBatch(sendBatchSize)
	targets := make([]netip.AddrPort, 0, sendBatchSize)
	sports := make([]uint16, 0, sendBatchSize)
	nonces := make([]uint32, 0, sendBatchSize)
	rts := make([]*route, 0, sendBatchSize)
	timedOut := make([]uint32, 0, sendBatchSize)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		wait := time.Duration(-1)
		e.neigh.recheck()
		e.mu.Lock()
		// Every route a pending probe names was stored before its insert.
		var routes []*route
		if rs := e.routes.Load(); rs != nil {
			routes = *rs
		}
		now := e.now()
		attempts := e.timing.attempts(e.count.open.Load(), e.table.len(), e.count.late.Load())
		for i, due := e.table.next(); i != 0; i, due = e.table.next() {
			p := e.table.at(i)
			if due > now {
				wait = time.Duration(due - now)
				break
			}
			if e.nextHopUnresolved(routes[p.route], p.key.target().Addr(), now) {
				e.finishLocked(i, Result{Target: p.key.target(), State: Unreachable, Attempts: int(p.attempts)})
				continue
			}
			if p.provisional {
				timedOut, class, provisional := e.timing.recheck(&p.key.addr, int(p.attempts), now-p.sentAt)
				if !timedOut {
					e.table.requeue(i, class)
					p.provisional = provisional
					continue
				}
			}
			if int(p.attempts) >= attempts {
				// The last attempt decides, so it waits the whole
				// Config.Timeout: a reply slower than the RTT estimate
				// (a loaded host, a queue) still counts.
				if elapsed := now - p.sentAt; elapsed < e.timing.ceiling {
					// Looked at again after twice its age: by then the
					// loss estimate may ask for another attempt.
					e.table.requeue(i, e.timing.classOf(min(2*elapsed, e.timing.ceiling)))
					p.provisional = false
					continue
				}
				e.table.unlink(i)
				if timedOut = append(timedOut, i); len(timedOut) == cap(timedOut) {
					timedOut = e.finishTimeoutsLocked(timedOut)
				}
				continue
			}
			if len(targets) == cap(targets) {
				wait = 0
				break
			}
			targets = append(targets, p.key.target())
			sports = append(sports, p.key.sport)
			nonces = append(nonces, p.nonce)
			rts = append(rts, routes[p.route])
			class, provisional := e.timing.timeout(&p.key.addr, int(p.attempts)+1)
			e.table.touch(i, now, class)
			p.provisional = provisional
		}
		timedOut = e.finishTimeoutsLocked(timedOut)
		e.mu.Unlock()
		if len(targets) > 0 {
			if e.bucket.wait(context.Background(), e.closed, len(targets)) != nil {
				return
			}
			if e.backoff.wait(context.Background(), e.closed, e.now()) != nil {
				return
			}
			for i, t := range targets {
				e.fill(b, rts[i], t, sports[i], nonces[i])
			}
			if e.sendBatch(b) != nil {
				return
			}
			// Only the retransmissions the kernel took count; the
			// probes of those it refused end now.
			e.count.retransmitted.Add(uint64(b.len() - len(b.failed)))
			e.settleRefused(b, true)
			b.reset()
			targets, sports, nonces, rts = targets[:0], sports[:0], nonces[:0], rts[:0]
		}
		switch {
		case wait == 0:
			continue
		case wait < 0:
			select {
			case <-e.wake:
			case <-e.closed:
				return
			}
		default:
			timer.Reset(max(wait, time.Millisecond))
			select {
			case <-timer.C:
			case <-e.closed:
				return
			}
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
		k := &e.table.at(i).key
		e.nonces.prefetch(k)
		e.table.prefetch(k)
	}
	for _, i := range timedOut {
		p := e.table.at(i)
		e.finishUnlinkedLocked(i, Result{Target: p.key.target(), State: Timeout, Attempts: int(p.attempts)})
	}
	return timedOut[:0]
}
