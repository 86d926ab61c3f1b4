package rawcheck

import (
	"context"
	"net/netip"
	"time"
)

// expireLoop is the engine's one timer. The pending table's expiry list is
// in send order and every attempt has the same timeout, so the probes due
// are always at its head: each pass re-sends those with attempts left
// (keeping their source port, so the cookie is the same and a late answer
// to an earlier attempt still counts) and finishes the others as Timeout,
// then sleeps until the next head is due.
func (e *engine) expireLoop() {
	defer e.wg.Done()
	b := newSendBatch(sendBatchSize)
	targets := make([]netip.AddrPort, 0, sendBatchSize)
	sports := make([]uint16, 0, sendBatchSize)
	rts := make([]*route, 0, sendBatchSize)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	timeout := int64(e.s.timeout)
	for {
		wait := time.Duration(-1)
		e.mu.Lock()
		// Every route a pending probe names was stored before its insert.
		var routes []*route
		if rs := e.routes.Load(); rs != nil {
			routes = *rs
		}
		now := e.now()
		for i := e.table.oldest(); i != 0; i = e.table.oldest() {
			p := e.table.at(i)
			if due := p.sentAt + timeout; due > now {
				wait = time.Duration(due - now)
				break
			}
			if int(p.attempts) >= e.s.attempts {
				e.finishLocked(i, Result{Target: p.key.target(), State: Timeout, Attempts: int(p.attempts)})
				continue
			}
			if len(targets) == cap(targets) {
				wait = 0
				break
			}
			targets = append(targets, p.key.target())
			sports = append(sports, p.key.sport)
			rts = append(rts, routes[p.route])
			e.table.touch(i, now)
		}
		e.mu.Unlock()
		if len(targets) > 0 {
			if e.bucket.wait(context.Background(), e.closed, len(targets)) != nil {
				return
			}
			for i, t := range targets {
				e.fill(b, rts[i], t, sports[i])
			}
			if e.sendBatch(b) != nil {
				return
			}
			e.count.retransmitted.Add(uint64(b.len()))
			b.reset()
			targets, sports, rts = targets[:0], sports[:0], rts[:0]
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
