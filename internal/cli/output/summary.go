package output

import (
	"fmt"
	"time"

	"github.com/rawprobe/rawprobe/rawcheck"
)

// Tally counts results by state. In a sweep (rawcheck.Prober.Sweep),
// Probed counts the targets swept, and NoAnswer those of them that gave no
// result: set by the caller, as no Result says so.
type Tally struct {
	Probed, Open, Closed, Timeout, Unreachable, NoRoute uint64
	NoAnswer                                            uint64
}

// Add counts one result.
func (t *Tally) Add(r rawcheck.Result) {
	t.Probed++
	switch r.State {
	case rawcheck.Open:
		t.Open++
	case rawcheck.Closed:
		t.Closed++
	case rawcheck.Timeout:
		t.Timeout++
	case rawcheck.Unreachable:
		t.Unreachable++
	case rawcheck.NoRoute:
		t.NoRoute++
	}
}

// AllOpen reports whether at least one target was probed and all were
// open.
func (t *Tally) AllOpen() bool {
	return t.Probed > 0 && t.Open == t.Probed
}

// Summary formats the final summary line (without newline): counts by state,
// the engine's invalid replies and the elapsed time.
func (t *Tally) Summary(invalid uint64, elapsed time.Duration) string {
	return fmt.Sprintf("rawprobe: probed %d, open %d, closed %d, timeout %d, unreachable %d, noroute %d, invalid replies %d, elapsed %v",
		t.Probed, t.Open, t.Closed, t.Timeout, t.Unreachable, t.NoRoute, invalid, elapsed.Round(time.Millisecond))
}

// SweepSummary is Summary for a sweep: the targets swept, the answers by
// state, and how many gave none (those are not listed in the outputs).
func (t *Tally) SweepSummary(invalid uint64, elapsed time.Duration) string {
	return fmt.Sprintf("rawprobe: swept %d, open %d, closed %d, unreachable %d, noroute %d, no answer %d (not listed), invalid replies %d, elapsed %v",
		t.Probed, t.Open, t.Closed, t.Unreachable, t.NoRoute, t.NoAnswer, invalid, elapsed.Round(time.Millisecond))
}

// LossSummary formats the raw engine's own losses for the summary line:
// ", ring drops N, send errors M": replies the kernel dropped because the
// receive ring was full, and packets it refused to send. The first make
// the results possibly incomplete (see IncompleteWarning).
func LossSummary(st rawcheck.Stats) string {
	return fmt.Sprintf(", ring drops %d, send errors %d", st.RingDrops, st.SendErrors)
}

// IncompleteWarning returns the line (without newline) that follows the
// summary when the engine dropped replies itself, or "" when it dropped
// none: a dropped reply may have turned an answering target into a
// timeout, so the results may be incomplete; the exit status still follows
// from the results. Send errors alone leave the results whole: a SYN the
// kernel refused is not counted as an attempt, and its target is probed
// again or reported as noroute (see rawcheck.Stats.SendErrors).
func IncompleteWarning(st rawcheck.Stats) string {
	if st.RingDrops == 0 {
		return ""
	}
	return fmt.Sprintf("rawprobe: results may be incomplete: %d replies dropped by the kernel (receive ring full)", st.RingDrops)
}

// TimingSummary formats the raw engine's adaptive timing figures for the
// end of the summary line: ", rtt p50 … p99 …, loss estimate …%", or ""
// when the engine measured no RTT (the connect engine, or no replies).
func TimingSummary(st rawcheck.Stats) string {
	if st.RTTSamples == 0 {
		return ""
	}
	return fmt.Sprintf(", rtt p50 %v p99 %v, loss estimate %.1f%%",
		roundRTT(st.RTTP50), roundRTT(st.RTTP99), 100*st.LossEstimate)
}

// SweepTimingSummary is TimingSummary for a sweep: the RTTs alone. A
// sweep's answers say nothing of loss (a lost SYN is a target that gave no
// answer), so the engine's estimate, its prior alone, is left out.
func SweepTimingSummary(st rawcheck.Stats) string {
	if st.RTTSamples == 0 {
		return ""
	}
	return fmt.Sprintf(", rtt p50 %v p99 %v", roundRTT(st.RTTP50), roundRTT(st.RTTP99))
}

// roundRTT keeps three significant figures of d.
func roundRTT(d time.Duration) time.Duration {
	switch {
	case d >= time.Second:
		return d.Round(time.Millisecond)
	case d >= time.Millisecond:
		return d.Round(10 * time.Microsecond)
	default:
		return d.Round(time.Microsecond)
	}
}
