package rawcheck

import (
	"time"

	"github.com/rawprobe/rawprobe/synack"
)

// stagedReplies is how many valid replies a receiver collects before it
// takes the engine lock to match them.
const stagedReplies = 512

// stagedReply is a reply waiting to be matched: it answers the pending
// probe of key if that probe's nonce is nonce.
type stagedReply struct {
	key                     probeKey
	nonce                   uint32
	kind                    synack.Kind
	ttl, icmpType, icmpCode uint8
	at                      int64 // engine clock of its arrival
	synACK                  int32 // with Config.OwnRST: index+1 in receiver.synACKs
	answers                 bool  // set by match: a pending or late probe's nonce
}

// receiver turns the frames of one listener into results. Replies are
// parsed and their nonce recovered from the cookie without the engine lock,
// then matched to pending probes, nonce included, in batches under one
// lock. It allocates nothing per packet.
type receiver struct {
	e       *engine
	reply   synack.Reply
	staged  []stagedReply
	rst     *sendBatch     // own RSTs, with Config.OwnRST
	synACKs []synack.Reply // the staged SYN-ACKs to answer, with Config.OwnRST

	// Conversion of the kernel's receive time (wall clock) to the engine
	// clock, computed once per block.
	clockSet bool
	offset   int64

	received, invalid uint64
}

func newReceiver(e *engine) *receiver {
	r := &receiver{e: e, staged: make([]stagedReply, 0, stagedReplies)}
	if e.s.ownRST {
		r.rst = newSendBatch(sendBatchSize)
		r.synACKs = make([]synack.Reply, 0, stagedReplies)
	}
	return r
}

// frame handles one received packet.
func (rv *receiver) frame(data []byte, ts int64) {
	e := rv.e
	if tap := e.s.tap; tap != nil {
		tap.Packet(time.Unix(0, ts), data, synack.LinkIP, false)
	}
	r := &rv.reply
	if synack.Parse(data, synack.LinkIP, r) != nil {
		return
	}
	rv.received++
	nonce, ok := e.key.Nonce(r)
	if !ok {
		rv.invalid++
		return
	}
	if !rv.clockSet {
		rv.offset = e.now() - time.Now().UnixNano()
		rv.clockSet = true
	}
	prober, target := r.Probe()
	var synACK int32
	if rv.rst != nil && r.Kind == synack.KindSYNACK {
		// Answered by match, once its nonce is known to be ours: a forged
		// SYN-ACK gets no RST from us.
		rv.synACKs = append(rv.synACKs, *r)
		synACK = int32(len(rv.synACKs))
	}
	rv.staged = append(rv.staged, stagedReply{
		key:      keyOf(target, prober.Port()),
		nonce:    nonce,
		kind:     r.Kind,
		ttl:      r.TTL,
		icmpType: r.ICMPType,
		icmpCode: r.ICMPCode,
		at:       ts + rv.offset,
		synACK:   synACK,
	})
	if len(rv.staged) == cap(rv.staged) {
		rv.match()
	}
}

// flush ends a block.
func (rv *receiver) flush() {
	rv.match()
	rv.sendRSTs()
	rv.e.count.received.Add(rv.received)
	rv.e.count.invalid.Add(rv.invalid)
	rv.received, rv.invalid = 0, 0
	rv.clockSet = false
}

// match finishes the pending probes the staged replies answer: those
// whose probe is pending with the nonce the reply carries. A reply
// carrying the nonce of the last finished probe of its 4-tuple is late;
// any other is invalid (forged, or recorded from an earlier probe).
func (rv *receiver) match() {
	if len(rv.staged) == 0 {
		return
	}
	e := rv.e
	var late, sweepLate, invalid uint64
	e.mu.Lock()
	now := e.now()
	for i := range rv.staged {
		s := &rv.staged[i]
		if s.nonce&sweepBit != 0 {
			isLate, valid := e.answerSweepLocked(s, now)
			switch {
			case !valid:
				invalid++
			case isLate:
				sweepLate++
			}
			s.answers = valid
			continue
		}
		idx := e.table.lookup(s.key)
		if idx == 0 || e.table.at(idx).nonce != s.nonce {
			if e.nonces.late(&s.key, s.nonce) {
				late++
				s.answers = true
			} else {
				invalid++
			}
			continue
		}
		s.answers = true
		p := e.table.at(idx)
		r := s.result(p.attempts, p.sentAt, now)
		e.timing.answer(&p.key.addr, r.Attempts, int64(r.RTT))
		e.finishLocked(idx, r)
	}
	e.mu.Unlock()
	if rv.rst != nil {
		for i := range rv.staged {
			s := &rv.staged[i]
			if s.synACK == 0 || !s.answers {
				continue
			}
			if n, err := synack.BuildRST(rv.rst.next(), &rv.synACKs[s.synACK-1]); err == nil {
				rv.rst.add(n, s.key.target().Addr())
				if rv.rst.full() {
					rv.sendRSTs()
				}
			}
		}
		rv.synACKs = rv.synACKs[:0]
	}
	rv.staged = rv.staged[:0]
	if late > 0 {
		e.count.late.Add(late)
	}
	if sweepLate > 0 {
		e.count.sweepLate.Add(sweepLate)
	}
	if invalid > 0 {
		e.count.invalid.Add(invalid)
	}
}

// result is the result s gives a probe of attempts SYNs whose latest left
// at sentAt, matched at now (engine clock).
func (s *stagedReply) result(attempts uint8, sentAt, now int64) Result {
	r := Result{Target: s.key.target(), Attempts: int(attempts), TTL: s.ttl}
	switch s.kind {
	case synack.KindSYNACK:
		r.State = Open
	case synack.KindRST:
		r.State = Closed
	default:
		r.State = Unreachable
		r.ICMPType, r.ICMPCode = s.icmpType, s.icmpCode
	}
	at := min(s.at, now)
	r.RTT = time.Duration(max(at-sentAt, 0))
	return r
}

// sendRSTs sends the own RSTs collected.
func (rv *receiver) sendRSTs() {
	if rv.rst == nil || rv.rst.len() == 0 {
		return
	}
	b := rv.rst
	if err := b.send(rv.e.raw4, rv.e.raw6, rv.e.pkt); err == nil {
		b.tapSent(rv.e.s.tap)
	}
	rv.e.count.rstSent.Add(uint64(b.len() - len(b.failed)))
	rv.e.count.sendErrors.Add(uint64(len(b.failed)))
	b.reset()
}
