package main

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Systems of the timing tables.
const (
	timAdaptive = "rawcheck-adaptive"
	timFixed3   = "rawcheck-3"
	timNmap     = "nmap-T5"
	timZmap     = "zmap-P3"
)

// timingSystems are the systems of the /16 timing table, in table order.
var timingSystems = []string{timAdaptive, timFixed3, timNmap, timZmap}

var timingNames = map[string]string{
	timAdaptive: "rawcheck Scan, default timing (adaptive attempts, timeout ≤ 1 s)",
	timFixed3:   "rawcheck Scan, exactly 3 attempts (`--retries 2`), timeout ≤ 1 s",
	timNmap:     "nmap -sS -T5",
	timZmap:     "zmap -P 3 -c 1 -r 1000000",
}

// timingReport holds the timing tables.
type timingReport struct {
	runs    int
	loss    float64
	scans   map[float64]map[string][]sample // by loss, by system
	silent  []sample
	mixed   []sample
	alone   [][]sample // by delay path
	delays  []time.Duration
	zmapVer string
}

// medianSecs returns the median time of the runs without error, the
// median run, and how many failed.
func medianSecs(samples []sample) (sample, int, bool) {
	var ok []sample
	for _, s := range samples {
		if s.err == "" {
			ok = append(ok, s)
		}
	}
	if len(ok) == 0 {
		return sample{}, len(samples), false
	}
	slices.SortFunc(ok, func(a, b sample) int {
		switch {
		case a.secs < b.secs:
			return -1
		case a.secs > b.secs:
			return 1
		}
		return 0
	})
	return ok[len(ok)/2], len(samples) - len(ok), true
}

// timingCell formats the median time and found share of samples.
func timingCell(samples []sample) string {
	med, failed, ok := medianSecs(samples)
	if !ok {
		e := "no runs"
		if len(samples) > 0 {
			e = strings.ReplaceAll(samples[0].err, "|", "/")
			if len(e) > 80 {
				e = e[:80] + "..."
			}
		}
		return "failed: " + e
	}
	s := fmt.Sprintf("%.2f s, %d/%d found (%.2f%%)", med.secs, med.found, med.probes, 100*float64(med.found)/float64(max(med.probes, 1)))
	if failed > 0 {
		s += fmt.Sprintf(", %d of %d runs failed", failed, len(samples))
	}
	return s
}

// markdown writes the timing tables with p.
func (tr *timingReport) markdown(p func(string, ...any)) {
	p("## Adaptive timing: the whole /16 × port 80")
	p("")
	p("All 65,536 addresses of 198.18.0.0/16 (all open), each system run %d times in turn; median whole-process time and the found count of that run.", tr.runs)
	p("")
	p("| system | no loss | %.0f%% of SYNs dropped | loss / no loss |", tr.loss*100)
	p("|---|---|---|---:|")
	for _, s := range timingSystems {
		a, b := tr.scans[0][s], tr.scans[tr.loss][s]
		if len(a) == 0 && len(b) == 0 {
			continue
		}
		ratio := "-"
		ma, _, okA := medianSecs(a)
		mb, _, okB := medianSecs(b)
		if okA && okB && ma.secs > 0 {
			ratio = fmt.Sprintf("%.2f×", mb.secs/ma.secs)
		}
		p("| %s | %s | %s | %s |", timingNames[s], timingCell(a), timingCell(b), ratio)
	}
	p("")
	p("## Adaptive timing: a silent /17")
	p("")
	p("198.18.128.0/17 (32,768 addresses) with every SYN dropped in the target, rawcheck with default timing: no answer means no RTT sample (each attempt waits the 1 s ceiling) and no loss estimate (the minimum of 2 attempts), so its attempts need 2 s after the last first SYN.")
	p("")
	p("| system | time | found |")
	p("|---|---|---|")
	p("| %s | %s |", timingNames[timAdaptive], strings.Replace(timingCell(tr.silent), ", ", " | ", 1))
	p("")
	p("## Adaptive timing: mixed delays")
	p("")
	p("Three /20s answered by tun responders in the target namespace after 1 ms, 50 ms and 200 ms (± 10%%), no loss, rawcheck with default timing: the three together in one scan, and each alone.")
	p("")
	p("| scan | time, found |")
	p("|---|---|")
	p("| all three /20s in one scan | %s |", timingCell(tr.mixed))
	slowest := 0.0
	for i, a := range tr.alone {
		p("| the %v /20 alone | %s |", tr.delays[i], timingCell(a))
		if m, _, ok := medianSecs(a); ok {
			slowest = max(slowest, m.secs)
		}
	}
	if m, _, ok := medianSecs(tr.mixed); ok && slowest > 0 {
		p("")
		p("Together / slowest alone: %.2f×.", m.secs/slowest)
	}
	p("")
	if tr.zmapVer != "" {
		p("zmap: `%s`, with an empty blocklist (`-b`; its default one excludes 198.18.0.0/15).", tr.zmapVer)
		p("")
	}
}
