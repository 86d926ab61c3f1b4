package rawcheck

import (
	"sync/atomic"
	"time"
)

// Stats are the engine's counters since New. Every counter only grows;
// the RTT percentiles and the loss estimate describe the replies so far.
type Stats struct {
	// Sent is the number of SYNs sent, retries included.
	Sent uint64
	// Retransmitted is the number of SYNs sent again because an attempt
	// timed out.
	Retransmitted uint64
	// Received is the number of replies (SYN-ACK, RST, ICMP unreachable)
	// the listener parsed.
	Received uint64
	// Invalid is the number of replies that answer none of our probes:
	// their cookie and nonce match neither a pending probe nor a recently
	// finished one (forged or unrelated packets, replies recorded from an
	// earlier probe), dropped and never reported.
	Invalid uint64
	// Late is the number of replies that carry the nonce of a probe
	// already finished: duplicates and answers to earlier attempts, at
	// most as many per probe as it sent SYNs; and, of a Sweep, the
	// duplicates of replies it reported and the replies that came after
	// Config.Timeout or after its end.
	Late uint64
	// Open, Closed, Unreachable and Timeouts count the results by state;
	// Unreachable counts ICMP errors and probes whose next hop's neighbour
	// was never resolved (see State Unreachable).
	Open, Closed, Unreachable, Timeouts uint64
	// NoRoute counts the NoRoute results: targets the prober had no route
	// to, or whose first SYN its kernel refused (a local broadcast
	// address, a prohibit route, a firewall rule on output), given their
	// result without anything sent.
	NoRoute uint64
	// RSTSent is the number of RSTs the engine sent itself (Config.OwnRST).
	RSTSent uint64
	// SendErrors is the number of packets the kernel refused to send; they
	// are not counted in Sent or Retransmitted, nor in a Result's
	// Attempts. In a Scan, a target whose first SYN was refused ends at
	// once as NoRoute with nothing sent, and one whose retransmission was
	// refused as Timeout with the attempts that did leave; a SYN refused
	// for want of buffers (ENOBUFS) is sent again after its timeout
	// instead, and only a probe the kernel keeps refusing so ends. Probe
	// returns an error when its SYN is refused.
	SendErrors uint64
	// RingDrops is the number of packets the kernel dropped because the
	// receive ring was full.
	RingDrops uint64
	// RateBackoffs is the number of times the engine slowed its sending
	// because it lost packets itself (ENOBUFS, ring drops); it speeds up
	// again while it loses none.
	RateBackoffs uint64
	// RTTSamples is the number of RTTs measured: replies to a probe's
	// first attempt (a reply after a retransmission may answer either).
	RTTSamples uint64
	// RTTP50 and RTTP99 are the median and 99th percentile of those RTTs,
	// rounded up by at most 9%; 0 without samples.
	RTTP50, RTTP99 time.Duration
	// LossEstimate is the estimated probability that an attempt to a
	// target that answers goes unanswered: the share of unanswered
	// attempts among those of answered probes, less the Late replies
	// (retransmissions that were early, not lost), with a prior of one
	// lost and one answered attempt. Adaptive attempts follow from it.
	// Sweeps, which cannot see a lost SYN, do not count towards it.
	LossEstimate float64
}

// counters are the atomic counters behind Stats.
type counters struct {
	sent, retransmitted, received, invalid, late atomic.Uint64
	open, closed, unreachable, timeouts, rstSent atomic.Uint64
	noRoute                                      atomic.Uint64
	sendErrors, ringDrops                        atomic.Uint64
	// Of late and open, those of Sweeps, which the adaptive timing of
	// Scans and Probes leaves out.
	sweepLate, sweepOpen atomic.Uint64
}

// snapshot reads every counter.
func (c *counters) snapshot() Stats {
	return Stats{
		Sent:          c.sent.Load(),
		Retransmitted: c.retransmitted.Load(),
		Received:      c.received.Load(),
		Invalid:       c.invalid.Load(),
		Late:          c.late.Load() + c.sweepLate.Load(),
		Open:          c.open.Load(),
		Closed:        c.closed.Load(),
		Unreachable:   c.unreachable.Load(),
		Timeouts:      c.timeouts.Load(),
		NoRoute:       c.noRoute.Load(),
		RSTSent:       c.rstSent.Load(),
		SendErrors:    c.sendErrors.Load(),
		RingDrops:     c.ringDrops.Load(),
	}
}
