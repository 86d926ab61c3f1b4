package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDiff: of goldenTargets, only those whose state differs from the
// previous run's, or that it did not probe, are written.
func TestDiff(t *testing.T) {
	prev := filepath.Join(t.TempDir(), "prev.jsonl")
	os.WriteFile(prev, []byte(strings.Join([]string{
		`{"target":"198.18.0.1:80","ip":"198.18.0.1","port":80,"state":"closed"}`,        // now open: written
		`{"target":"198.18.0.2:80","ip":"198.18.0.2","port":80,"state":"closed"}`,        // still closed
		`{"target":"x","ip":"2001:db8::3","port":443,"state":"open"}`,                    // now timeout: written
		`{"target":"203.0.113.4:22","ip":"203.0.113.4","port":22,"state":"unreachable"}`, // unchanged
		`{"target":"db.example:5432","ip":"198.18.0.1","port":5432,"state":"open"}`,      // unchanged
		`{"stats":{"seed":7}}`,
		"",
	}, "\n")), 0o644)
	c := runCLI(t, append([]string{"--format", "jsonl", "--diff", prev}, goldenTargets...))
	if c.code != 1 {
		t.Fatalf("exit %d\n%s", c.code, c.stderr)
	}
	// 11 targets: 3 unchanged, 2 changed, 6 the previous run did not probe.
	lines := strings.Split(strings.TrimSpace(c.stdout), "\n")
	if len(lines) != 8 {
		t.Errorf("%d lines, want 8:\n%s", len(lines), c.stdout)
	}
	for _, want := range []string{`"target":"198.18.0.1:80",`, `"target":"[2001:db8::3]:443",`, `"target":"198.18.1.0:80",`} {
		if !strings.Contains(c.stdout, want) {
			t.Errorf("output lacks %s:\n%s", want, c.stdout)
		}
	}
	for _, unwanted := range []string{`"target":"198.18.0.2:80",`, `"target":"203.0.113.4:22",`, `"target":"db.example:5432",`} {
		if strings.Contains(c.stdout, unwanted) {
			t.Errorf("output has the unchanged %s:\n%s", unwanted, c.stdout)
		}
	}
	// The summary still counts every target probed.
	if !strings.Contains(c.stderr, "probed 11,") {
		t.Errorf("summary %q", c.stderr)
	}
}

func TestDiffBadFile(t *testing.T) {
	dir := t.TempDir()
	csv := filepath.Join(dir, "prev.csv")
	os.WriteFile(csv, []byte("target,ip,port\n"), 0o644)
	noIP := filepath.Join(dir, "noip.jsonl")
	os.WriteFile(noIP, []byte(`{"target":"a:1","state":"open"}`+"\n"), 0o644)
	for _, c := range []struct{ file, msg string }{
		{csv, "line 1: not a JSONL record"},
		{noIP, "line 1: want a record with ip, port and state"},
		{filepath.Join(dir, "missing"), "no such file"},
	} {
		r := runCLI(t, []string{"--diff", c.file, "198.18.0.1:80"})
		if r.code != 2 || !strings.Contains(r.stderr, c.msg) || len(r.fake.probed) != 0 {
			t.Errorf("--diff %s: exit %d, stderr %q; want 2 and %q, nothing probed", c.file, r.code, r.stderr, c.msg)
		}
	}
}
