package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestThousands(t *testing.T) {
	for in, want := range map[float64]string{0: "0", 999: "999", 1000: "1,000", 56848.4: "56,848", 1234567: "1,234,567"} {
		if got := thousands(in); got != want {
			t.Errorf("thousands(%v) = %q, want %q", in, got, want)
		}
	}
}

// row reports the median run's rate and found %, the worst ACK and
// connection counts, and says which runs failed.
func TestRowMedianAndWorstCase(t *testing.T) {
	samples := []sample{
		{rate: 300, probes: 100, found: 90, acks: 0, opens: 0, rssKB: 1024},
		{rate: 100, probes: 100, found: 100, acks: 5, opens: 2, rssKB: 2048},
		{rate: 200, probes: 100, found: 95, synacks: 100, acks: 0, opens: 0, rssKB: 1024},
		{err: "signal: killed"},
	}
	got := row(sysCompat, samples)
	for _, want := range []string{"| 200 |", "| 95.0 |", "| 100 | 5 | 2 |", "2.0 MiB", "1 of 4 failed (first: signal: killed)"} {
		if !strings.Contains(got, want) {
			t.Errorf("row %q lacks %q", got, want)
		}
	}
	if got := row(sysNmap, []sample{{err: "x|y"}}); !strings.Contains(got, "| - |") || strings.Contains(got, "x|y") {
		t.Errorf("all-failed row %q: want dashes and no raw | in the error", got)
	}
}

func TestCountUnique(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out")
	text := "#masscan\nopen tcp 80 198.18.1.1 1\nopen tcp 80 198.18.1.1 2\nopen tcp 80 198.18.1.2 3\nclosed tcp 80 198.18.1.3 4\n"
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	n, err := countUnique(path, regexp.MustCompile(`^open tcp \d+ (\S+)`))
	if err != nil || n != 2 {
		t.Fatalf("countUnique = %d, %v; want 2 distinct open hosts", n, err)
	}
}

func TestConfigCheckRejectsBadFlags(t *testing.T) {
	good := config{targets: 100, runs: 3, loss: 0.1, systems: allSystems, runTimeout: time.Minute, floodFor: time.Second, concurrency: 10, nmapMinRate: 1, masscanRate: 1}
	if err := good.check(); err != nil {
		t.Fatalf("good config: %v", err)
	}
	for name, mutate := range map[string]func(*config){
		"-targets": func(c *config) { c.targets = 0 },
		"-runs":    func(c *config) { c.runs = 2 },
		"-loss":    func(c *config) { c.loss = 1 },
		"-systems": func(c *config) { c.systems = []string{"zmap"} },
		"-flood":   func(c *config) { c.floodFor = time.Hour },
	} {
		c := good
		mutate(&c)
		if err := c.check(); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s: err %v, want one naming %s", name, err, name)
		}
	}
}
