package rawcheck

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"net/netip"
)

// Prober is the raw SYN engine: it sends hand-made SYNs on AF_PACKET and raw
// IP sockets and matches the replies its AF_PACKET listener reads to the
// probes in flight.
// It never completes a handshake. A Prober is safe for concurrent use; its
// sockets live in the network namespace of the thread that called New.
type Prober struct {
	e *engine
}

// New opens the engine's sockets and reserves its source ports in the
// network namespace of the calling thread. It needs CAP_NET_RAW: without it
// the error satisfies errors.Is(err, os.ErrPermission) and names
// CAP_NET_RAW. A bad Config gives an error naming the field.
func New(cfg Config) (*Prober, error) {
	s, err := cfg.check()
	if err != nil {
		return nil, err
	}
	e, err := newEngine(s)
	if err != nil {
		return nil, err
	}
	return &Prober{e: e}, nil
}

// Probe sends a SYN to target, with retries, and returns what became of it.
// It blocks until a result or ctx's end; thousands of Probes may run at
// once. The error is for a bad target (see Scan), a failed send, ctx's end
// or a closed Prober; an unanswered probe is a Result with State Timeout,
// not an error. A target the prober has no route to is not an error
// either: it gets, at once and with nothing sent, a Result with State
// NoRoute (Attempts, RTT, TTL, ICMPType and ICMPCode zero), counted in
// Stats.NoRoute and not in Stats.Unreachable: the case in which connect()
// would fail at once with ENETUNREACH (or EHOSTUNREACH). rawprobe's
// connect engine reports it the same way.
func (p *Prober) Probe(ctx context.Context, target netip.AddrPort) (Result, error) {
	t, err := checkTarget(target)
	if err != nil {
		return Result{}, err
	}
	return p.e.probe(ctx, t)
}

// Scan probes every target of targets, at most Config.Window at a time and
// Config.Rate packets per second, and calls yield (from the calling
// goroutine) exactly once per target with its Result, in the order results
// arrive. It returns nil once every target has its result.
//
// A target the prober has no route to, or whose first SYN the kernel
// refuses (Stats.SendErrors), does not stop the scan: it gets one Result
// with State NoRoute (nothing is sent to it), counted in Stats.NoRoute. A bad target — no address, a zoned, unspecified,
// multicast or broadcast address, port 0, or an IPv6 address when the
// engine has no IPv6 raw socket — stops the scan when reached, is never
// sent, and Scan returns an error naming it; when ctx ends it returns
// ctx's error promptly. In both cases the probes still in flight are
// dropped without a Result.
func (p *Prober) Scan(ctx context.Context, targets iter.Seq[netip.AddrPort], yield func(Result)) error {
	switch {
	case targets == nil:
		return errors.New("rawcheck: Scan: nil targets")
	case yield == nil:
		return errors.New("rawcheck: Scan: nil yield")
	}
	return p.e.scan(ctx, targets, yield)
}

// Sweep sends one SYN to each target of targets, at Config.Rate packets
// per second, and calls yield (from the calling goroutine) with a Result
// for each target that answers — Open, Closed or Unreachable, Attempts 1 —
// as zmap and masscan report a scan: a target that does not answer gets no
// Result. It keeps nothing per target: the SYNs of one batch carry its
// number in their sequence numbers, beside their keyed cookies, and the
// engine remembers when each recent batch was built, which gives the RTT.
// Its memory and its cost per SYN therefore do not depend on how many
// targets are in flight, where Scan keeps an entry for each (up to
// Config.Window). It sends each SYN once, whatever Config.Attempts says,
// ignores Config.Window but for the size of its memory of replies, and
// waits Config.Timeout after the last SYN for the answers still coming,
// then returns nil.
//
// A reply is reported once: a duplicate of one already reported (a
// SYN-ACK the target sent again) is counted in Stats.Late, as is a reply
// that comes more than Config.Timeout after its SYN, unless another reply
// took the duplicate's slot in the memory of replies reported (4 ×
// Config.Window slots, at least 65,536) in between. A target listed twice
// is probed, and may be reported, twice. A target the prober has no route
// to, or whose SYN the kernel refuses (after four tries for a refusal for
// want of buffers), gets a Result with State NoRoute, as in Scan. Bad
// targets and the end of ctx stop it as they stop Scan. Sweeps on one
// Prober run one at a time: a second waits for the first; a Scan or Probe
// may run beside a Sweep, but should not probe its targets at the same
// time.
func (p *Prober) Sweep(ctx context.Context, targets iter.Seq[netip.AddrPort], yield func(Result)) error {
	switch {
	case targets == nil:
		return errors.New("rawcheck: Sweep: nil targets")
	case yield == nil:
		return errors.New("rawcheck: Sweep: nil yield")
	}
	return p.e.sweep(ctx, targets, yield)
}

// SweepBatchSize is the most targets a Sweep has taken from its iterator,
// those without a route included, and not yet passed to its senders: the
// SYNs of those are never sent if the Sweep's ctx ends. (The senders send
// every batch passed to them before Sweep returns.) A caller that records
// how far a Sweep came, to resume it, counts the last SweepBatchSize
// targets taken as sent only once Sweep has returned nil.
const SweepBatchSize = 256

// Stats returns the engine's counters.
func (p *Prober) Stats() Stats { return p.e.stats() }

// Close stops the engine: it closes its sockets, releases its source ports
// and ends the Probes and Scans still running with ErrClosed. It may be
// called more than once.
func (p *Prober) Close() error { return p.e.close() }

// checkTarget returns target with an IPv4-mapped address unmapped, or an
// error naming what is wrong with it.
func checkTarget(target netip.AddrPort) (netip.AddrPort, error) {
	a := target.Addr()
	switch {
	case !a.IsValid():
		return target, fmt.Errorf("rawcheck: bad target %v: no address", target)
	case a.Zone() != "":
		return target, fmt.Errorf("rawcheck: bad target %v: zoned addresses are not supported", target)
	}
	a = a.Unmap()
	switch {
	case target.Port() == 0:
		return target, fmt.Errorf("rawcheck: bad target %v: port 0", target)
	case a.IsUnspecified():
		return target, fmt.Errorf("rawcheck: bad target %v: unspecified address", target)
	case a.IsMulticast():
		return target, fmt.Errorf("rawcheck: bad target %v: multicast address", target)
	case a == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
		return target, fmt.Errorf("rawcheck: bad target %v: broadcast address", target)
	}
	return netip.AddrPortFrom(a, target.Port()), nil
}
