package rawcheck

import (
	"context"
	"iter"
	"math/bits"
	"math/rand/v2"
	"net/netip"
	"time"

	"golang.org/x/sys/unix"

	"github.com/rawprobe/rawprobe/synack"
)

// sweepSeqMask keeps the 31 bits of a Sweep batch number.
const sweepSeqMask = sweepBit - 1

// Sizes of a Sweep's memories: of its batches' send times, and of the
// replies it reported (slots of 8 bytes).
const (
	sweepBatches = 1 << 16
	minSweepSeen = 1 << 16
	maxSweepSeen = 1 << 22
)

// sweepState is a Sweep's, guarded by the engine's mu: the running one,
// or the last one once it ended, for the replies still coming.
//
// A Sweep records nothing per SYN. The SYNs of one batch (sendBatchSize at
// most) share a nonce: sweepBit and the batch's number, counted from 0 in
// the Sweep, and the Sweep remembers when each of its last sweepBatches
// batches was built. A reply's nonce (recovered from its cookie) then
// names its batch, whose time gives the RTT. A forged reply's nonce is as
// good as random: it passes only if it names one of the batches built
// within Config.Timeout before it arrives — at a million SYNs per second
// and a 1 s timeout, about 4,000 numbers in 2^32, a chance below one in a
// million per forged packet (a reply to a pending Scan probe must match
// all 32 bits). One naming an older batch of the Sweep counts as late.
type sweepState struct {
	s       *session
	ended   bool   // the Sweep returned: its replies are late
	next    uint32 // number of the next batch
	batches []sweepBatch
	// seen holds a keyed hash of the 4-tuple and nonce of each reply
	// reported, one slot per hash value, so a duplicate (a SYN-ACK sent
	// again, a packet duplicated on the way) is not reported twice unless
	// so many replies came in between that its slot was taken.
	seen []uint64
	mask uint32
	seed uint64
}

// sweepBatch is when a batch of a Sweep was built.
type sweepBatch struct {
	seq    uint32 // its number + 1; 0: no batch
	sentAt int64  // engine clock (ns)
}

// newSweepState returns the state of a Sweep for session s, whose memory
// of replies suits a window of replies.
func newSweepState(s *session, window int, seed uint64) *sweepState {
	n := 1 << bits.Len(uint(min(max(4*window, minSweepSeen), maxSweepSeen)-1))
	return &sweepState{s: s, batches: make([]sweepBatch, sweepBatches), seen: make([]uint64, n), mask: uint32(n - 1), seed: seed}
}

// batch returns the nonce of a new batch of SYNs built at now.
func (w *sweepState) batch(now int64) uint32 {
	seq := w.next
	w.next = (w.next + 1) & sweepSeqMask
	w.batches[seq%sweepBatches] = sweepBatch{seq: seq + 1, sentAt: now}
	return sweepBit | seq
}

// sentAt returns when the batch of nonce was built, if it is one of the
// last sweepBatches.
func (w *sweepState) sentAt(nonce uint32) (int64, bool) {
	seq := nonce & sweepSeqMask
	b := w.batches[seq%sweepBatches]
	return b.sentAt, b.seq == seq+1
}

// first reports whether the reply to k with nonce is the first one seen,
// and remembers it.
func (w *sweepState) first(k *probeKey, nonce uint32) bool {
	h := hashKey(k, w.seed^uint64(nonce)*0x9e3779b97f4a7c15) | 1 // 0 is an empty slot
	slot := &w.seen[uint32(h>>32)&w.mask]
	if *slot == h {
		return false
	}
	*slot = h
	return true
}

// sweep implements Prober.Sweep.
func (e *engine) sweep(ctx context.Context, targets iter.Seq[netip.AddrPort], yield func(Result)) error {
	select {
	case <-e.closed:
		return ErrClosed
	default:
	}
	select {
	case e.sweepMu <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	case <-e.closed:
		return ErrClosed
	}
	defer func() { <-e.sweepMu }()
	sc := e.newScanner(yield, true)
	w := newSweepState(sc.s, e.s.window, rand.Uint64())
	e.mu.Lock()
	e.sweeping = w
	e.mu.Unlock()
	defer func() {
		e.mu.Lock()
		w.ended = true
		e.mu.Unlock()
		e.endSession(sc.s)
	}()
	return sc.run(ctx, targets, sc.cooldown)
}

// cooldown delivers a Sweep's replies for Config.Timeout after its last
// SYN, then those that came by then.
func (sc *scanner) cooldown(ctx context.Context) error {
	t := time.NewTimer(time.Duration(sc.e.timing.ceiling))
	defer t.Stop()
	for {
		sc.deliver()
		select {
		case <-sc.s.notify:
		case <-t.C:
			sc.e.mu.Lock()
			sc.e.sweeping.ended = true // later replies are late
			sc.e.mu.Unlock()
			sc.deliver()
			return nil
		case <-ctx.Done():
			return ctx.Err()
		case <-sc.e.closed:
			return ErrClosed
		}
	}
}

// answerSweepLocked handles a reply carrying a Sweep nonce, received at
// now (see sweepState): the first reply to a batch built within
// Config.Timeout of the running Sweep is reported; a duplicate, or a reply
// to an older batch or after the Sweep's end, is late; one naming no batch
// of the last Sweep is invalid. e.mu must be held.
func (e *engine) answerSweepLocked(s *stagedReply, now int64) (late, valid bool) {
	w := e.sweeping
	if w == nil {
		return false, false
	}
	sentAt, ok := w.sentAt(s.nonce)
	switch {
	case !ok || sentAt > now:
		return false, false
	case w.ended || min(s.at, now)-sentAt > e.timing.ceiling || !w.first(&s.key, s.nonce):
		return true, true
	}
	r := s.result(1, sentAt, now)
	e.timing.sampleRTT(&s.key.addr, int64(r.RTT))
	if r.State == Open {
		e.count.sweepOpen.Add(1)
	}
	e.reportLocked(w.s, r)
	return false, true
}

// settleSweep handles the SYNs of a Sweep batch b the kernel refused,
// after sendBatchOn: one refused for want of buffers is built again, with
// a new send time, and sent once the backoff allows, up to
// maxBufferRefusals times; any other refusal, or the last, gives the
// target the Result NoRoute, as in a Scan. spare is a batch to build in.
func (e *engine) settleSweep(b, spare *sendBatch, sp *packetSocket) {
	for round := 1; len(b.failed) > 0; round++ {
		spare.reset()
		var nonce uint32
		for j, i := range b.failed {
			syn, ok := synack.ParseSYN(b.packet(i))
			if !ok {
				continue
			}
			target := netip.AddrPortFrom(syn.Dst, syn.DstPort)
			var rt *route
			if b.errs[j] == unix.ENOBUFS && round < maxBufferRefusals {
				rt, _ = e.route(syn.Dst)
			}
			if rt == nil {
				e.mu.Lock()
				if e.sweeping != nil {
					e.reportLocked(e.sweeping.s, Result{Target: target, State: NoRoute})
				}
				e.mu.Unlock()
				continue
			}
			if nonce == 0 {
				e.mu.Lock()
				nonce = e.sweeping.batch(e.now())
				e.mu.Unlock()
			}
			e.fill(spare, rt, target, syn.SrcPort, nonce)
		}
		b.reset()
		if spare.len() == 0 {
			return
		}
		if e.backoff.wait(context.Background(), e.closed, e.now()) != nil {
			return
		}
		if e.sendBatchOn(spare, sp) != nil {
			return
		}
		b, spare = spare, b
	}
}

// sendSweep is scanner.send for a Sweep: nothing is recorded per SYN, and
// the SYNs carry their batch's nonce (see sweepState). A 4-tuple the pending table holds (a
// Scan or Probe running at the same time) is given another source port,
// as there.
func (sc *scanner) sendSweep(ctx context.Context, targets []netip.AddrPort, routes []*route) error {
	e := sc.e
	e.mu.Lock()
	nonce := e.sweeping.batch(e.now())
	if e.table.len() > 0 {
		for i, t := range targets {
			for range len(e.ports.ports) {
				if e.table.lookup(keyOf(t, sc.sports[i])) == 0 {
					break
				}
				sc.sports[i] = e.nextSourcePort()
			}
		}
	}
	e.mu.Unlock()
	var b *sendBatch
	select {
	case b = <-sc.free:
	case <-ctx.Done():
		return ctx.Err()
	}
	for i, t := range targets {
		e.fill(b, routes[i], t, sc.sports[i], nonce)
	}
	sc.queue <- b
	return nil
}
