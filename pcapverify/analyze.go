package pcapverify

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"
)

// Reply is how the target answered a flow's SYN.
type Reply uint8

// The replies a flow can get, in the order the analyzer prefers them when
// a flow got more than one.
const (
	// NoReply: the target sent nothing back.
	NoReply Reply = iota
	// SYNACK: the port is open.
	SYNACK
	// RST: the port is closed.
	RST
	// ICMP: an ICMP or ICMPv6 destination unreachable quoted the SYN.
	ICMP
)

// String returns "none", "syn-ack", "rst" or "icmp".
func (r Reply) String() string {
	switch r {
	case SYNACK:
		return "syn-ack"
	case RST:
		return "rst"
	case ICMP:
		return "icmp"
	}
	return "none"
}

// Flow is one handshake the prober started: one 4-tuple and initial
// sequence number.
type Flow struct {
	// Prober is the address and port that sent the SYN; Target the one it
	// went to.
	Prober, Target netip.AddrPort
	// ISN is the sequence number of the SYN.
	ISN uint32
	// SYNs counts the prober's SYNs, retransmissions included.
	SYNs int
	// Reply is the target's answer.
	Reply Reply
	// SYNACKs, TargetRSTs and ICMPs count the target's segments and the
	// ICMP errors quoting the SYN.
	SYNACKs, TargetRSTs, ICMPs int
	// ICMPType and ICMPCode are those of the first ICMP error.
	ICMPType, ICMPCode uint8
	// ProberRSTs counts the prober's RST and RST+ACK segments.
	ProberRSTs int
	// ProberACKs counts the prober's other segments after the SYN: ACK
	// alone, FIN, or anything with payload. Each one is a violation.
	ProberACKs int
	// Completed says the handshake was completed: after the target's
	// SYN-ACK the prober sent an ACK (alone or with data or FIN) or a
	// payload, so the target's kernel handed a connection to the
	// application.
	Completed bool
	// FirstSYN, FirstSYNACK and FirstRST are capture times; zero when
	// there was no such packet.
	FirstSYN, FirstSYNACK, FirstRST time.Time
	// Gap is the time from the SYN-ACK to the prober's RST that answered
	// it; zero when there was none.
	Gap time.Duration

	lastSYNACK time.Time
	hasGap     bool
}

// Violation is one breach of the handshake rules.
type Violation struct {
	// Prober and Target name the flow.
	Prober, Target netip.AddrPort
	// What says what was wrong.
	What string
}

// String formats v as "prober -> target: what".
func (v Violation) String() string {
	return fmt.Sprintf("%v -> %v: %s", v.Prober, v.Target, v.What)
}

// GapStats summarises the SYN-ACK → prober RST gaps of a capture.
type GapStats struct {
	// N is the number of flows with a gap.
	N int
	// P50, P99 and Max are the median, 99th percentile and largest gap.
	P50, P99, Max time.Duration
}

// String formats the gap statistics.
func (g GapStats) String() string {
	return fmt.Sprintf("SYN-ACK->RST gap over %d flows: p50 %v, p99 %v, max %v", g.N, g.P50, g.P99, g.Max)
}

// Report is the result of analysing a capture.
type Report struct {
	// Path is the capture file analysed (the name given to Analyze).
	Path string
	// Packets is the number of frames in the file; Dropped the number
	// of packets the capturing program reported dropping (0 unless the
	// caller sets it, as internal/verify/pcapcheck does for its own
	// captures). A capture that dropped packets cannot prove anything, so
	// Err reports it.
	Packets, Dropped uint64
	// Flows has one entry per handshake, in the order their SYNs appear.
	Flows []Flow
	// Violations lists every breach of the rules.
	Violations []Violation
	// SYNACKFlows, RSTFlows, ICMPFlows and NoReplyFlows count flows by
	// the target's reply.
	SYNACKFlows, RSTFlows, ICMPFlows, NoReplyFlows int
	// ACKOnlySegments counts the prober's segments carrying ACK alone,
	// FIN, or payload, in all flows.
	ACKOnlySegments int
	// CompletedFlows counts the flows whose handshake was completed
	// (Flow.Completed).
	CompletedFlows int
	// Gap summarises the SYN-ACK → RST gaps.
	Gap GapStats
}

// maxErrViolations is how many violations Err lists.
const maxErrViolations = 10

// Err returns nil when the capture is complete and has no violations,
// otherwise an error naming the file and listing the first violations.
func (r *Report) Err() error {
	if len(r.Violations) == 0 && r.Dropped == 0 {
		return nil
	}
	var b strings.Builder
	fmt.Fprintf(&b, "pcapverify: %s:", r.Path)
	if r.Dropped > 0 {
		fmt.Fprintf(&b, " the capture dropped %d packets;", r.Dropped)
	}
	if len(r.Violations) > 0 {
		fmt.Fprintf(&b, " %d violations in %d flows:", len(r.Violations), len(r.Flows))
		for i, v := range r.Violations {
			if i == maxErrViolations {
				fmt.Fprintf(&b, "\n\t... and %d more", len(r.Violations)-i)
				break
			}
			b.WriteString("\n\t" + v.String())
		}
	}
	return errors.New(b.String())
}

// String summarises the report in one line.
func (r *Report) String() string {
	return fmt.Sprintf("%d packets (%d dropped), %d flows: %d syn-ack, %d rst, %d icmp, %d no reply; %d handshakes completed; %d ack-only segments; %d violations; %v",
		r.Packets, r.Dropped, len(r.Flows), r.SYNACKFlows, r.RSTFlows, r.ICMPFlows, r.NoReplyFlows,
		r.CompletedFlows, r.ACKOnlySegments, len(r.Violations), r.Gap)
}

// flowKey names a flow by its 4-tuple as the prober sent it.
type flowKey struct{ prober, target netip.AddrPort }

// analyzer builds flows from segments in capture order.
type analyzer struct {
	packets uint64
	flows   []*Flow
	current map[flowKey]*Flow // the latest flow of each 4-tuple
	strays  []Violation       // segments of no captured handshake
}

func newAnalyzer() *analyzer {
	return &analyzer{current: make(map[flowKey]*Flow)}
}

// add accounts one segment captured at ts.
func (a *analyzer) add(s Segment, ts time.Time) {
	if s.Quoted {
		f := a.current[flowKey{s.Src, s.Dst}]
		if f == nil {
			a.stray(s, fmt.Sprintf("ICMP type %d code %d from %v quotes no captured SYN", s.ICMPType, s.ICMPCode, s.ICMPSource))
			return
		}
		if f.ICMPs == 0 {
			f.ICMPType, f.ICMPCode = s.ICMPType, s.ICMPCode
		}
		f.ICMPs++
		return
	}
	if s.IsSYN() {
		k := flowKey{s.Src, s.Dst}
		f := a.current[k]
		if f != nil && f.ISN == s.Seq {
			f.SYNs++ // retransmission
			return
		}
		// A new handshake, possibly on a reused 4-tuple.
		f = &Flow{Prober: s.Src, Target: s.Dst, ISN: s.Seq, SYNs: 1, FirstSYN: ts}
		a.flows = append(a.flows, f)
		a.current[k] = f
		return
	}
	if f := a.current[flowKey{s.Src, s.Dst}]; f != nil {
		// From the prober.
		if s.Payload > 0 {
			f.ProberACKs++
		}
		if !f.FirstSYNACK.IsZero() && s.Flags&FlagRST == 0 && (s.Flags&FlagACK != 0 || s.Payload > 0) {
			f.Completed = true
		}
		switch {
		case s.Flags&FlagRST != 0:
			f.ProberRSTs++
			if f.FirstRST.IsZero() {
				f.FirstRST = ts
				if !f.lastSYNACK.IsZero() {
					f.Gap, f.hasGap = ts.Sub(f.lastSYNACK), true
				}
			}
		case s.Payload == 0:
			f.ProberACKs++ // ACK alone, FIN, or SYN+ACK (simultaneous open)
		}
		return
	}
	if f := a.current[flowKey{s.Dst, s.Src}]; f != nil {
		// From the target.
		switch {
		case s.Flags&(FlagSYN|FlagACK) == FlagSYN|FlagACK:
			f.SYNACKs++
			if f.FirstSYNACK.IsZero() {
				f.FirstSYNACK = ts
			}
			if f.FirstRST.IsZero() {
				f.lastSYNACK = ts
			}
		case s.Flags&FlagRST != 0:
			f.TargetRSTs++
		}
		return
	}
	a.stray(s, fmt.Sprintf("TCP segment (flags %s) of no captured handshake", flagString(s.Flags)))
}

// stray records a segment that belongs to no flow whose SYN was captured.
func (a *analyzer) stray(s Segment, what string) {
	a.strays = append(a.strays, Violation{Prober: s.Src, Target: s.Dst, What: what})
}

// report applies the rules to every flow.
func (a *analyzer) report() *Report {
	r := &Report{Packets: a.packets, Flows: make([]Flow, 0, len(a.flows))}
	var gaps []time.Duration
	for _, f := range a.flows {
		switch {
		case f.SYNACKs > 0:
			f.Reply = SYNACK
			r.SYNACKFlows++
		case f.TargetRSTs > 0:
			f.Reply = RST
			r.RSTFlows++
		case f.ICMPs > 0:
			f.Reply = ICMP
			r.ICMPFlows++
		default:
			r.NoReplyFlows++
		}
		bad := func(format string, args ...any) {
			r.Violations = append(r.Violations, Violation{f.Prober, f.Target, fmt.Sprintf(format, args...)})
		}
		if f.ProberACKs > 0 {
			bad("prober sent %d segments with ACK alone, FIN or payload (the handshake must never complete)", f.ProberACKs)
		}
		if f.SYNACKs > 0 {
			switch {
			case f.ProberRSTs == 0:
				bad("no RST answered the SYN-ACK")
			case f.ProberRSTs > 1:
				bad("prober sent %d RSTs, want exactly one", f.ProberRSTs)
			case !f.hasGap:
				bad("the prober's RST came before the SYN-ACK")
			}
		}
		if f.hasGap {
			gaps = append(gaps, f.Gap)
		}
		r.ACKOnlySegments += f.ProberACKs
		if f.Completed {
			r.CompletedFlows++
		}
		r.Flows = append(r.Flows, *f)
	}
	r.Violations = append(r.Violations, a.strays...)
	r.Gap = gapStats(gaps)
	return r
}

// gapStats computes nearest-rank percentiles.
func gapStats(gaps []time.Duration) GapStats {
	if len(gaps) == 0 {
		return GapStats{}
	}
	slices.Sort(gaps)
	rank := func(p int) time.Duration {
		i := (p*len(gaps)+99)/100 - 1
		return gaps[max(i, 0)]
	}
	return GapStats{N: len(gaps), P50: rank(50), P99: rank(99), Max: gaps[len(gaps)-1]}
}

// flagString spells TCP flags like "SYN|ACK".
func flagString(f uint8) string {
	var parts []string
	for _, n := range []struct {
		bit  uint8
		name string
	}{{FlagFIN, "FIN"}, {FlagSYN, "SYN"}, {FlagRST, "RST"}, {FlagPSH, "PSH"}, {FlagACK, "ACK"}, {FlagURG, "URG"}} {
		if f&n.bit != 0 {
			parts = append(parts, n.name)
		}
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, "|")
}
