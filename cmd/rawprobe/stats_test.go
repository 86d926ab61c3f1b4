package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rawprobe/rawprobe/internal/cli/output"
)

// TestStatsFile checks --stats-file against the fake engine's known
// answers for goldenTargets: 11 endpoints, 4 open, 3 closed, 1 timeout
// (3 attempts: 2 retransmissions), 3 unreachable; RTTs 1.2 ms, 0.3 ms and
// 2 ms.
func TestStatsFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "stats.json")
	c := runCLI(t, append([]string{"--stats-file", path, "--shard", "1/1"}, goldenTargets...))
	if c.code != 1 {
		t.Fatalf("exit %d\n%s", c.code, c.stderr)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var st output.RunStats
	if err := json.Unmarshal(data, &st); err != nil {
		t.Fatalf("%v\n%s", err, data)
	}
	want := output.StateCounts{Probed: 11, Open: 4, Closed: 3, Timeout: 1, Unreachable: 3}
	if st.Counts != want || st.TargetSetSize != 11 || st.Targets != 11 || st.Seed != 7 || st.Shard != "1/1" {
		t.Errorf("stats %+v, want counts %+v of 11 targets, seed 7, shard 1/1", st, want)
	}
	if st.RTT.N != 10 || st.RTT.Max != 2000 || st.RTT.P50 > 1200 || st.RTT.P50 < 1100 || st.Retransmissions != 2 || st.InvalidReplies != 2 {
		t.Errorf("rtt %+v, retransmissions %d, invalid %d; want 10 RTTs, median 1.2ms, max 2ms, 2 retransmissions, 2 invalid", st.RTT, st.Retransmissions, st.InvalidReplies)
	}
	if len(st.TargetSetHash) != 64 || st.Engine != "raw" || !st.End.After(st.Start) || st.Command[0] != "rawprobe" || st.Version == "" {
		t.Errorf("metadata %+v", st)
	}
	// The same set under another seed hashes alike; another set does not.
	other := filepath.Join(t.TempDir(), "other.json")
	runCLI(t, append(append([]string{"--stats-file", other}, goldenTargets...), "--seed", "8"))
	var st2 output.RunStats
	data, _ = os.ReadFile(other)
	json.Unmarshal(data, &st2)
	if st2.TargetSetHash != st.TargetSetHash {
		t.Errorf("same set, another seed: hash %s, want %s", st2.TargetSetHash, st.TargetSetHash)
	}
	runCLI(t, []string{"--stats-file", other, "198.18.0.1:80"})
	data, _ = os.ReadFile(other)
	json.Unmarshal(data, &st2)
	if st2.TargetSetHash == st.TargetSetHash || st2.TargetSetSize != 1 {
		t.Errorf("another set: %+v", st2)
	}
}

func TestStatsLine(t *testing.T) {
	c := runCLI(t, append([]string{"--format", "jsonl", "--stats"}, goldenTargets...))
	lines := strings.Split(strings.TrimSpace(c.stdout), "\n")
	if len(lines) != 12 || !strings.HasPrefix(lines[11], `{"stats":{`) || strings.Contains(strings.Join(lines[:11], ""), `"stats"`) {
		t.Fatalf("want 11 results and a closing stats line:\n%s", c.stdout)
	}
	var line struct{ Stats output.RunStats }
	if err := json.Unmarshal([]byte(lines[11]), &line); err != nil || line.Stats.Counts.Probed != 11 {
		t.Errorf("%v: %+v", err, line.Stats)
	}
	// Negative control: without --stats the stream has results only.
	if c := runCLI(t, append([]string{"--format", "jsonl"}, goldenTargets...)); strings.Contains(c.stdout, `"stats"`) {
		t.Errorf("a stats line without --stats")
	}
	if c := runCLI(t, []string{"--stats", "198.18.0.1:80"}); c.code != 2 || !strings.Contains(c.stderr, "--format jsonl") || len(c.fake.probed) != 0 {
		t.Errorf("--stats with text: exit %d, %q", c.code, c.stderr)
	}
}
