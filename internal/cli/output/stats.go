package output

import (
	"encoding/json"
	"io"
	"math/bits"
	"time"

	"github.com/rawprobe/rawprobe/rawcheck"
)

// RunStats is a scan's metadata and totals, written by --stats-file as
// one JSON object and, with --stats, as the last line of a JSONL stream
// ({"stats": {...}}).
type RunStats struct {
	// Version, Commit and GoVersion say which rawprobe ran.
	Version   string `json:"version"`
	Commit    string `json:"commit"`
	GoVersion string `json:"go_version"`
	// Command is the command line, arguments as given.
	Command []string `json:"command"`
	// Seed and Shard ("I/N", "" for the whole set) select the order and
	// share probed.
	Seed  uint64 `json:"seed"`
	Shard string `json:"shard,omitempty"`
	// TargetSetSize is the number of endpoints of the whole set,
	// Targets those of the shard; TargetSetHash identifies the set
	// (targets.Set.Hash), so that runs over the same set can be matched.
	TargetSetSize uint64 `json:"target_set_size"`
	TargetSetHash string `json:"target_set_hash"`
	Targets       uint64 `json:"targets"`
	// Start and End bound the scan.
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
	// Engine is the engine that probed: raw or connect.
	Engine string `json:"engine"`
	// Sweep is true for a sweep (--sweep): one SYN per target, and only
	// the targets that answered listed; Counts.NoAnswer counts the others.
	Sweep bool `json:"sweep,omitempty"`
	// Counts are the results by state.
	Counts StateCounts `json:"counts"`
	// RTT summarises the round-trip times of the targets that answered.
	RTT RTTPercentiles `json:"rtt_us"`
	// Retransmissions counts the SYNs sent again after an attempt timed
	// out (Attempts beyond the first, over every result).
	Retransmissions uint64 `json:"retransmissions"`
	// Drops counts the packets lost inside the prober: the raw engine's
	// receive-ring drops and the sends the kernel refused, the sum of
	// RingDrops and SendErrors.
	Drops uint64 `json:"drops"`
	// RingDrops counts the replies the kernel dropped because the raw
	// engine's receive ring was full; SendErrors the packets it refused
	// to send.
	RingDrops  uint64 `json:"ring_drops"`
	SendErrors uint64 `json:"send_errors"`
	// Incomplete is true when RingDrops is not 0: a dropped reply may
	// have made an answering target read as a timeout (a refused SYN
	// does not: see IncompleteWarning).
	Incomplete bool `json:"incomplete"`
	// InvalidReplies counts replies whose cookie matched no probe.
	InvalidReplies uint64 `json:"invalid_replies"`
}

// StateCounts counts results by state.
type StateCounts struct {
	Probed      uint64 `json:"probed"`
	Open        uint64 `json:"open"`
	Closed      uint64 `json:"closed"`
	Timeout     uint64 `json:"timeout"`
	Unreachable uint64 `json:"unreachable"`
	NoRoute     uint64 `json:"noroute"`
	NoAnswer    uint64 `json:"no_answer,omitempty"`
}

// Counts returns t's counts.
func (t *Tally) Counts() StateCounts {
	return StateCounts{t.Probed, t.Open, t.Closed, t.Timeout, t.Unreachable, t.NoRoute, t.NoAnswer}
}

// RTTPercentiles are round-trip times in microseconds; N is the number of
// results they are taken from (0: every field 0).
type RTTPercentiles struct {
	N   uint64 `json:"n"`
	P50 int64  `json:"p50"`
	P90 int64  `json:"p90"`
	P99 int64  `json:"p99"`
	Max int64  `json:"max"`
}

// WriteJSON writes s as one indented JSON object.
func (s *RunStats) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(s)
}

// WriteJSONLine writes s as the JSONL stream's closing line,
// {"stats": {...}}.
func (s *RunStats) WriteJSONLine(w io.Writer) error {
	return json.NewEncoder(w).Encode(struct {
		Stats *RunStats `json:"stats"`
	}{s})
}

// RTTHistogram gathers round-trip times in fixed memory: log-linear
// buckets of 16 per power of two of microseconds, so a percentile is
// exact below 32 µs and within 1/16 (6.25 %) above; the largest is kept
// exactly. The zero RTTHistogram is empty.
type RTTHistogram struct {
	buckets [rttBuckets]uint64
	n       uint64
	max     int64
}

// rttSub is the number of buckets per power of two; rttBuckets covers
// every int64 of microseconds.
const (
	rttSubBits = 4
	rttSub     = 1 << rttSubBits
	rttBuckets = rttSub + (64-rttSubBits)*rttSub
)

// Add counts r's RTT when r got a reply.
func (h *RTTHistogram) Add(r rawcheck.Result) {
	switch r.State {
	case rawcheck.Open, rawcheck.Closed, rawcheck.Unreachable:
	default:
		return
	}
	us := max(r.RTT.Microseconds(), 0)
	h.buckets[rttBucket(uint64(us))]++
	h.n++
	h.max = max(h.max, us)
}

func rttBucket(v uint64) int {
	if v < rttSub {
		return int(v)
	}
	shift := bits.Len64(v) - rttSubBits - 1
	return rttSub + shift*rttSub + int(v>>shift) - rttSub
}

// rttLow returns the smallest value of bucket i.
func rttLow(i int) int64 {
	if i < rttSub {
		return int64(i)
	}
	shift := (i - rttSub) / rttSub
	return int64(rttSub+(i-rttSub)%rttSub) << shift
}

// Percentiles returns the median, 90th and 99th percentiles (nearest
// rank, each the lower bound of its bucket) and the largest RTT.
func (h *RTTHistogram) Percentiles() RTTPercentiles {
	if h.n == 0 {
		return RTTPercentiles{}
	}
	rank := func(p uint64) int64 {
		want := max((p*h.n+99)/100, 1)
		var seen uint64
		for i, c := range h.buckets {
			if seen += c; seen >= want {
				return min(rttLow(i), h.max)
			}
		}
		return h.max
	}
	return RTTPercentiles{N: h.n, P50: rank(50), P90: rank(90), P99: rank(99), Max: h.max}
}
