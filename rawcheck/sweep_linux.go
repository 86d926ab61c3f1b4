package rawcheck

import (
	"context"
	"iter"
	"math/bits"
	"math/rand/v2"
	"net/netip"
	"slices"
	"time"

	"golang.org/x/sys/unix"

	"github.com/rawprobe/rawprobe/synack"
)

// sweepSeqMask keeps the 31 bits of a Sweep batch number.
const sweepSeqMask = sweepBit - 1

// Bounds of the memory of Sweep batches (sweepBatches), and of a Sweep's
// memory of the replies it reported (slots of 8 bytes).
const (
	minSweepBatches = 1 << 10
	maxSweepBatches = 1 << 20
	minSweepSeen    = 1 << 16
	maxSweepSeen    = 1 << 22
)

// sweepUnlimitedRate is the send rate the memory of batches is sized for
// when the rate is unlimited: twice what this engine's senders reach on
// two cores (BENCHMARKS.md).
const sweepUnlimitedRate = 4_000_000

// sweepBatches numbers the batches of SYNs of an engine's Sweeps and
// remembers when each of the last ones was built, guarded by the
// engine's mu.
//
// A Sweep records nothing per SYN. The SYNs of one batch (sendBatchSize at
// most) share a nonce: sweepBit and the batch's number, counted on from
// one Sweep to the next, so a reply's nonce (recovered from its cookie)
// names its batch, whose time gives the RTT, and its Sweep. A forged
// reply's nonce is as good as random: it passes only if it names one of
// the batches built within Config.Timeout before it arrives — at a million
// SYNs per second and a 1 s timeout, about 4,000 numbers in 2^32, a chance
// below one in a million per forged packet (a reply to a pending Scan
// probe must match all 32 bits). The memory holds twice the batches that
// Config.Rate (or sweepUnlimitedRate) sends in Config.Timeout, so no
// answer within the timeout finds its batch forgotten — up to
// maxSweepBatches (268 M SYNs, over a minute at the unlimited rate):
// beyond that, an answer slower than the memory's span counts as
// invalid.
type sweepBatches struct {
	next  uint32 // number of the next batch, 31 bits
	built []sweepBatch
	mask  uint32
}

// sweepBatch is when a batch of a Sweep was built.
type sweepBatch struct {
	seq    uint32 // its number + 1; 0: no batch
	sentAt int64  // engine clock (ns)
}

// newSweepBatches returns the memory of batches for sending rate SYNs per
// second (0: unlimited) with replies awaited for timeout.
func newSweepBatches(rate int, timeout time.Duration) *sweepBatches {
	if rate <= 0 {
		rate = sweepUnlimitedRate
	}
	batches := 2 * (float64(rate)*timeout.Seconds()/sendBatchSize + 1) // in float: no overflow
	n := 1 << bits.Len64(uint64(min(max(batches, minSweepBatches), maxSweepBatches))-1)
	return &sweepBatches{built: make([]sweepBatch, n), mask: uint32(n - 1)}
}

// batch returns the nonce of a new batch of SYNs built at now.
func (b *sweepBatches) batch(now int64) uint32 {
	seq := b.next
	b.next = (b.next + 1) & sweepSeqMask
	b.built[seq&b.mask] = sweepBatch{seq: seq + 1, sentAt: now}
	return sweepBit | seq
}

// sentAt returns when the batch of nonce was built, if it is remembered.
func (b *sweepBatches) sentAt(nonce uint32) (int64, bool) {
	seq := nonce & sweepSeqMask
	x := b.built[seq&b.mask]
	return x.sentAt, x.seq == seq+1
}

// sweepState is a Sweep's, guarded by the engine's mu: the running one,
// or the last one once it ended, for the replies still coming.
type sweepState struct {
	s     *session
	ended bool   // the Sweep returned: its replies are late
	start uint32 // number of its first batch
	// seen holds a keyed hash of the 4-tuple and nonce of each reply
	// reported, one slot per hash value, so a duplicate (a SYN-ACK sent
	// again, a packet duplicated on the way) is not reported twice unless
	// another reply took its slot in between.
	seen []uint64
	mask uint32
	seed uint64
}

// newSweepState returns the state of a Sweep for session s whose first
// batch is number first, with a memory of replies for a window of them.
func newSweepState(s *session, first uint32, window int, seed uint64) *sweepState {
	n := 1 << bits.Len(uint(min(max(4*window, minSweepSeen), maxSweepSeen)-1))
	return &sweepState{s: s, start: first, seen: make([]uint64, n), mask: uint32(n - 1), seed: seed}
}

// owns reports whether the batch of nonce is one of this Sweep's, the
// next batch being number next.
func (w *sweepState) owns(nonce, next uint32) bool {
	return (nonce-w.start)&sweepSeqMask < (next-w.start)&sweepSeqMask
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
	e.mu.Lock()
	if e.sweepBatches == nil {
		e.sweepBatches = newSweepBatches(e.s.rate, time.Duration(e.timing.ceiling))
	}
	w := newSweepState(sc.s, e.sweepBatches.next, e.s.window, rand.Uint64())
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
// now (see sweepBatches): the first reply to a batch of the running Sweep
// built within Config.Timeout before it arrived is reported; a duplicate,
// or a reply to a batch still remembered but older, or of an earlier
// Sweep, or that came after the Sweep's end, is late; one naming no batch
// remembered is invalid. e.mu must be held.
func (e *engine) answerSweepLocked(s *stagedReply, now int64) (late, valid bool) {
	w := e.sweeping
	if w == nil {
		return false, false
	}
	sentAt, ok := e.sweepBatches.sentAt(s.nonce)
	switch {
	case !ok:
		return false, false
	case w.ended || !w.owns(s.nonce, e.sweepBatches.next) || min(s.at, now)-sentAt > e.timing.ceiling || !w.first(&s.key, s.nonce):
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
		// The backoff first: the batch's time, taken when it is built,
		// is its SYNs' send time for the RTT.
		if round < maxBufferRefusals && slices.Contains(b.errs, unix.ENOBUFS) {
			if e.backoff.wait(context.Background(), e.closed, e.now()) != nil {
				return
			}
		}
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
				nonce = e.sweepBatches.batch(e.now())
				e.mu.Unlock()
			}
			e.fill(spare, rt, target, syn.SrcPort, nonce)
		}
		b.reset()
		if spare.len() == 0 {
			return
		}
		if e.sendBatchOn(spare, sp) != nil {
			return
		}
		b, spare = spare, b
	}
}

// sendSweep is scanner.send for a Sweep: nothing is recorded per SYN, and
// the SYNs carry their batch's nonce (see sweepBatches). A 4-tuple the
// pending table holds (a Scan or Probe running at the same time) is given
// another source port, as there.
func (sc *scanner) sendSweep(ctx context.Context, targets []netip.AddrPort, routes []*route) error {
	e := sc.e
	// A free batch first: the batch's time, taken when it is built, is its
	// SYNs' send time for the RTT, so it must not include this wait.
	var b *sendBatch
	select {
	case b = <-sc.free:
	case <-ctx.Done():
		return ctx.Err()
	}
	e.mu.Lock()
	nonce := e.sweepBatches.batch(e.now())
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
	for i, t := range targets {
		e.fill(b, routes[i], t, sc.sports[i], nonce)
	}
	sc.queue <- b
	return nil
}
