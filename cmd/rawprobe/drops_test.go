package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/rawprobe/rawprobe/internal/cli/engine"
	"github.com/rawprobe/rawprobe/internal/cli/output"
	"github.com/rawprobe/rawprobe/rawcheck"
)

// lossyEngine is the fake engine with ring drops and send errors in its
// counters.
type lossyEngine struct {
	*fakeEngine
	ringDrops, sendErrors uint64
}

func (l *lossyEngine) Stats() rawcheck.Stats {
	st := l.fakeEngine.Stats()
	st.RingDrops, st.SendErrors = l.ringDrops, l.sendErrors
	return st
}

func withLosses(ringDrops, sendErrors uint64) runOpt {
	return func(e *env, c *cli) {
		e.openEngine = func(name string, _ engine.Config) (engine.Engine, string, error) {
			c.opened = append(c.opened, name)
			return &lossyEngine{c.fake, ringDrops, sendErrors}, "", nil
		}
	}
}

// The summary line shows the raw engine's ring drops and send errors, and
// with ring drops a second line says the results may be incomplete; the
// jsonl stats line has both counters. Send errors alone bring no warning
// (a refused SYN is not an attempt: its target is probed again or reads
// noroute). The exit status still follows from the results. Negative
// control: without losses the counters read 0 and no warning is printed.
func TestSummaryShowsLosses(t *testing.T) {
	for _, tc := range []struct {
		ring, send uint64
		warning    string
	}{
		{0, 0, ""},
		{1234, 0, "rawprobe: results may be incomplete: 1234 replies dropped by the kernel (receive ring full)"},
		{0, 5, ""},
		{7, 3, "rawprobe: results may be incomplete: 7 replies dropped by the kernel (receive ring full)"},
	} {
		c := runCLI(t, append([]string{"--format", "jsonl", "--stats"}, goldenTargets...), withLosses(tc.ring, tc.send))
		if c.code != 1 {
			t.Errorf("ring %d send %d: exit %d, want 1 (not all open)\n%s", tc.ring, tc.send, c.code, c.stderr)
		}
		lines := strings.Split(strings.TrimSpace(c.stderr), "\n")
		summary := lines[0]
		if want := fmt.Sprintf(", ring drops %d, send errors %d", tc.ring, tc.send); !strings.HasPrefix(summary, "rawprobe: probed 11") || !strings.Contains(summary, want) {
			t.Errorf("summary %q, want it to contain %q", summary, want)
		}
		switch {
		case tc.warning == "" && len(lines) != 1:
			t.Errorf("no losses: stderr %q, want the summary line alone", c.stderr)
		case tc.warning != "" && (len(lines) != 2 || lines[1] != tc.warning):
			t.Errorf("stderr %q, want the summary then %q", c.stderr, tc.warning)
		}
		out := strings.Split(strings.TrimSpace(c.stdout), "\n")
		var last struct{ Stats output.RunStats }
		if err := json.Unmarshal([]byte(out[len(out)-1]), &last); err != nil {
			t.Fatal(err)
		}
		st := last.Stats
		if st.RingDrops != tc.ring || st.SendErrors != tc.send || st.Drops != tc.ring+tc.send || st.Incomplete != (tc.warning != "") {
			t.Errorf("stats line %+v: want ring drops %d, send errors %d, incomplete %v", st, tc.ring, tc.send, tc.warning != "")
		}
	}
}
