package output

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/rawprobe/rawprobe/rawcheck"
)

func TestRTTHistogram(t *testing.T) {
	var h RTTHistogram
	if got := h.Percentiles(); got != (RTTPercentiles{}) {
		t.Errorf("empty: %+v", got)
	}
	for i := 1; i <= 1000; i++ {
		h.Add(rawcheck.Result{State: rawcheck.Open, RTT: time.Duration(i) * time.Microsecond})
	}
	// Negative control: results without a reply are not RTTs.
	h.Add(rawcheck.Result{State: rawcheck.Timeout, RTT: time.Hour})
	h.Add(rawcheck.Result{State: rawcheck.NoRoute})
	got := h.Percentiles()
	if got.N != 1000 || got.Max != 1000 {
		t.Fatalf("%+v: want n 1000, max 1000", got)
	}
	for _, c := range []struct {
		name      string
		got, want int64
	}{{"p50", got.P50, 500}, {"p90", got.P90, 900}, {"p99", got.P99, 990}} {
		if c.got > c.want || float64(c.got) < float64(c.want)*(1-1.0/16) {
			t.Errorf("%s = %d, want within 1/16 below %d", c.name, c.got, c.want)
		}
	}
	for v := uint64(0); v < 1<<20; v += 7 {
		i := rttBucket(v)
		if lo := rttLow(i); uint64(lo) > v || (i+1 < rttBuckets && uint64(rttLow(i+1)) <= v) {
			t.Fatalf("value %d in bucket %d of [%d, %d)", v, i, lo, rttLow(i+1))
		}
	}
}

func TestRunStatsJSON(t *testing.T) {
	var tally Tally
	tally.Add(rawcheck.Result{State: rawcheck.Open})
	tally.Add(rawcheck.Result{State: rawcheck.Timeout})
	s := RunStats{Version: "v1", Command: []string{"rawprobe", "-p", "80"}, Seed: 7, Counts: tally.Counts(), TargetSetHash: "ab"}
	var buf bytes.Buffer
	if err := s.WriteJSONLine(&buf); err != nil {
		t.Fatal(err)
	}
	if strings.Count(buf.String(), "\n") != 1 {
		t.Errorf("JSONL stats line %q is not one line", buf.String())
	}
	var line struct {
		Stats map[string]any `json:"stats"`
	}
	if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
		t.Fatal(err)
	}
	counts, _ := line.Stats["counts"].(map[string]any)
	if line.Stats["seed"] != 7.0 || counts["open"] != 1.0 || counts["timeout"] != 1.0 || counts["probed"] != 2.0 {
		t.Errorf("stats line %s", buf.String())
	}
}
