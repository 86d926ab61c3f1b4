package rawcheck

import (
	"encoding/binary"
	"math"
	"math/bits"
	"time"
)

// Adaptive timing (RFC 6298's estimator, applied per destination prefix):
// answered first attempts give each prefix a smoothed RTT (SRTT) and its
// variation (RTTVAR); an attempt to that prefix waits
// clamp(SRTT + 4·RTTVAR, floor, Config.Timeout), doubled for each
// retransmission (RFC 6298 5.5) at most maxBackoffShift times and never
// beyond Config.Timeout. The doubling is bounded because a retransmission
// keeps its source port and cookie, so a reply to an earlier attempt still
// answers the probe: a timeout that was too short costs a SYN, not a result,
// while unbounded doubling would make the few probes whose SYNs were lost
// several times in a row the whole scan's tail. A prefix with no
// sample yet waits Config.Timeout, like RFC 6298's initial RTO (looked at
// again as samples come; see recheck). The last attempt of a target that
// does not answer waits the whole Config.Timeout: it decides the result,
// and a reply slower than the estimate (a loaded host) must still count.
//
// Prefixes are /24 for IPv4 and /48 for IPv6: the longest prefixes routed
// between networks, so the addresses of one most likely share a path and
// its delay, while a scan of a large range still gives each prefix many
// samples. Prefixes are hashed into a fixed number of estimator slots; two
// prefixes sharing a slot share an estimate whose variation covers both.
//
// The loss estimate is pooled over the engine: a probe answered at its
// k-th attempt saw k-1 attempts lost, so the estimate is the share of lost
// attempts among the attempts of answered probes, less one per duplicate
// reply (an attempt retransmitted too early, not lost), with one lost and
// one answered attempt added as a prior so that it is never exactly 0 or
// 1.
// From it, a target that has not answered gets as many attempts as make
// the expected number of open ports missed over the scan, the open ports
// found so far and expected among the probes in flight, times
// loss^attempts (none before the first is found), less than one: less than
// missedPortsTarget, so that the scan misses none with 99% probability
// rather than about even odds; at least
// minAdaptiveAttempts (one lost SYN never decides) and at most
// Config.AttemptCeiling.

const (
	// DefaultMinTimeout is the floor of an adaptive per-attempt timeout
	// (lowered to Config.Timeout when that is smaller): below it a
	// retransmission would mostly race the reply it waits for, since
	// scheduling and batching delays are of that order.
	DefaultMinTimeout = 10 * time.Millisecond
	// DefaultAttemptCeiling is the default Config.AttemptCeiling.
	DefaultAttemptCeiling = 8
	// minAdaptiveAttempts is the fewest attempts adaptive timing gives a
	// target that does not answer.
	minAdaptiveAttempts = 2
	// missedPortsTarget is the expected number of open ports missed that
	// adaptive attempts stay below.
	missedPortsTarget = 0.01
	// maxBackoffShift bounds the doublings of a retransmission's timeout.
	maxBackoffShift = 2
	// pathSlots is the number of per-prefix RTT estimators.
	pathSlots = 4096
	// rttBuckets and rttBucketsPerOctave shape the RTT histogram behind
	// the percentiles: log-scale from 1 µs, 8 buckets per doubling
	// (percentiles within 9%).
	rttBuckets          = 256
	rttBucketsPerOctave = 8
)

// pathRTT is the RTT estimate of one prefix slot, in ns.
type pathRTT struct {
	srtt, rttvar int64
	samples      uint32
}

// timing holds the adaptive timing state. It is guarded by engine.mu.
type timing struct {
	floor, ceiling int64   // bounds of one attempt's timeout, ns
	classes        []int64 // timeout classes, ascending; the last is ceiling
	classStep      float64 // log of the ratio between neighbouring classes
	fixedAttempts  int     // > 0: exactly this many attempts (Config.Attempts)
	maxAttempts    int     // ceiling of adaptive attempts
	seed           uint64

	paths [pathSlots]pathRTT

	answered, answeredAttempts uint64 // probes answered and their attempts
	rtt                        [rttBuckets]uint64
	rttSamples                 uint64
}

// newTiming returns the timing state for a timeout ceiling, fixed attempts
// (0 = adaptive) and the ceiling of adaptive attempts.
func newTiming(ceiling time.Duration, fixedAttempts, maxAttempts int, seed uint64) *timing {
	t := &timing{
		ceiling:       max(int64(ceiling), 1),
		fixedAttempts: fixedAttempts,
		maxAttempts:   max(maxAttempts, 1),
		seed:          seed,
	}
	t.floor = min(int64(DefaultMinTimeout), t.ceiling)
	t.classes, t.classStep = timeoutClasses(t.floor, t.ceiling)
	return t
}

// timeoutClasses returns the timeouts from floor to ceiling that attempts
// are rounded up to: a geometric series of ratio 2^(1/4) (at most 19% more
// than asked), or coarser if maxTimeoutClasses would not reach ceiling.
func timeoutClasses(floor, ceiling int64) ([]int64, float64) {
	step := math.Log(2) / 4
	if span := math.Log(float64(ceiling) / float64(floor)); span/step > maxTimeoutClasses-1 {
		step = span / (maxTimeoutClasses - 1)
	}
	var cs []int64
	for c := 0; len(cs) < maxTimeoutClasses; c++ {
		v := int64(math.Ceil(float64(floor) * math.Exp(float64(c)*step)))
		if len(cs) > 0 && v <= cs[len(cs)-1] {
			v = cs[len(cs)-1] + 1
		}
		if v >= ceiling || len(cs) == maxTimeoutClasses-1 {
			cs = append(cs, ceiling)
			break
		}
		cs = append(cs, v)
	}
	return cs, step
}

// lastClass returns the class of the ceiling, the wait of a last attempt.
func (t *timing) lastClass() uint8 { return uint8(len(t.classes) - 1) }

// classOf returns the smallest class whose timeout is at least d.
func (t *timing) classOf(d int64) uint8 {
	if d <= t.floor {
		return 0
	}
	c := int(math.Log(float64(d)/float64(t.floor)) / t.classStep)
	c = min(max(c, 0), len(t.classes)-1)
	for c > 0 && t.classes[c-1] >= d {
		c--
	}
	for c < len(t.classes)-1 && t.classes[c] < d {
		c++
	}
	return uint8(c)
}

// slot returns the estimator slot of the prefix of addr (IPv4 as
// IPv4-mapped IPv6).
func (t *timing) slot(addr *[16]byte) *pathRTT {
	var p uint64
	if isMapped4(addr) {
		p = uint64(binary.BigEndian.Uint32(addr[12:16]))>>8 | 1<<63
	} else {
		p = binary.BigEndian.Uint64(addr[0:8]) >> 16 // /48
	}
	h, l := bits.Mul64(p^t.seed, 0x9e3779b97f4a7c15)
	return &t.paths[(h^l)%pathSlots]
}

// isMapped4 reports whether addr is an IPv4-mapped IPv6 address.
func isMapped4(addr *[16]byte) bool {
	return binary.LittleEndian.Uint64(addr[0:8]) == 0 && addr[8] == 0 && addr[9] == 0 &&
		addr[10] == 0xff && addr[11] == 0xff
}

// timeout returns the timeout class of attempt (1 = the first SYN) to
// addr, and whether it is provisional: without an RTT estimate for addr's
// prefix yet, the attempt is looked at again after the floor (see
// recheck) rather than left to wait the whole ceiling, since the first
// replies of a scan usually come back while it is still sending.
func (t *timing) timeout(addr *[16]byte, attempt int) (uint8, bool) {
	if t.slot(addr).samples == 0 {
		return 0, true
	}
	return t.classOf(t.rto(addr, attempt)), false
}

// recheck looks again at a provisional attempt to addr, sent elapsed ns
// ago: it returns whether the attempt has timed out, and otherwise the
// class to wait in and whether that is still provisional. With an
// estimate now, the attempt times out after the estimate's RTO; without,
// it is looked at again after twice its age, and times out at the
// ceiling.
func (t *timing) recheck(addr *[16]byte, attempt int, elapsed int64) (due bool, class uint8, provisional bool) {
	if t.slot(addr).samples > 0 {
		rto := t.rto(addr, attempt)
		return elapsed >= rto, t.classOf(rto), false
	}
	if elapsed >= t.ceiling {
		return true, 0, false
	}
	return false, t.classOf(min(max(2*elapsed, t.floor), t.ceiling)), true
}

// rto returns the timeout of attempt to addr: the ceiling without an
// estimate.
func (t *timing) rto(addr *[16]byte, attempt int) int64 {
	rto := t.ceiling
	if p := t.slot(addr); p.samples > 0 {
		rto = max(p.srtt+4*p.rttvar, t.floor)
		if shift := min(attempt-1, maxBackoffShift); shift > 0 {
			if rto > t.ceiling>>shift {
				rto = t.ceiling
			} else {
				rto <<= shift
			}
		}
		rto = min(rto, t.ceiling)
	}
	return rto
}

// answer records that a probe of addr was answered at attempt attempts,
// rtt after that attempt was sent. Only first attempts give RTT samples
// (Karn's rule): a reply after a retransmission may answer either SYN.
func (t *timing) answer(addr *[16]byte, attempts int, rtt int64) {
	t.answered++
	t.answeredAttempts += uint64(attempts)
	if attempts == 1 {
		t.sampleRTT(addr, rtt)
	}
}

// sampleRTT records the RTT of a reply to the only SYN of its probe, to
// addr: in its prefix's estimate and in the percentiles. It counts nothing
// towards the loss estimate: a Sweep's replies, which it records, cannot
// show a lost attempt.
func (t *timing) sampleRTT(addr *[16]byte, rtt int64) {
	rtt = max(rtt, 1)
	p := t.slot(addr)
	if p.samples == 0 {
		p.srtt, p.rttvar = rtt, rtt/2
	} else {
		d := p.srtt - rtt
		if d < 0 {
			d = -d
		}
		p.rttvar += (d - p.rttvar) / 4
		p.srtt += (rtt - p.srtt) / 8
	}
	p.samples++
	t.rtt[rttBucket(rtt)]++
	t.rttSamples++
}

// loss returns the estimated probability that one attempt goes unanswered
// although the target answers. late is the number of replies that came
// for probes already answered: most are the second answer to an attempt
// retransmitted too early, whose probe was counted as answered after a
// lost attempt; each is taken back out of the lost attempts.
func (t *timing) loss(late uint64) float64 {
	lost := t.answeredAttempts - t.answered
	lost -= min(lost, late)
	return float64(lost+1) / float64(lost+t.answered+2)
}

// attempts returns how many attempts a target that has not answered gets,
// with opens open ports found so far, pending probes in flight and late
// replies so far (see loss). The open ports the scan will have found are
// estimated as those found plus the pending probes' expected share of
// them, so that decisions taken early in a scan count its targets in
// flight too.
func (t *timing) attempts(opens uint64, pending int, late uint64) int {
	if t.fixedAttempts > 0 {
		return t.fixedAttempts
	}
	p := t.loss(late)
	missed := float64(opens) // expected open ports missed after k attempts
	if t.answered > 0 {
		missed += float64(pending) * float64(opens) / float64(t.answered)
	}
	k := 0
	for k < t.maxAttempts && (k < minAdaptiveAttempts || missed >= missedPortsTarget) {
		k++
		missed *= p
	}
	return k
}

// rttBucket returns the histogram bucket of an RTT of ns nanoseconds.
func rttBucket(ns int64) int {
	us := float64(ns) / 1e3
	if us <= 1 {
		return 0
	}
	return min(int(math.Ceil(math.Log2(us)*rttBucketsPerOctave)), rttBuckets-1)
}

// percentile returns the upper bound of the bucket holding quantile q of
// the RTT samples, or 0 without samples.
func (t *timing) percentile(q float64) time.Duration {
	if t.rttSamples == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(t.rttSamples)))
	var seen uint64
	for b, n := range t.rtt {
		if seen += n; seen >= max(rank, 1) {
			return time.Duration(math.Exp2(float64(b)/rttBucketsPerOctave) * 1e3)
		}
	}
	return 0
}
