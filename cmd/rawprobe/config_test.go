package main

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/rawprobe/rawprobe/internal/cli/engine"
	"github.com/rawprobe/rawprobe/rawcheck"
)

// TestBadSettings: each engine setting out of range is rejected once, by
// its owner (engine.Validate through rawcheck.Config.Validate, or
// output.ParseFormat), and the command exits 2 with a message naming the
// flag, the value given and the owner's reason, before any engine is
// opened or anything written; for the scan and for serve alike. The flag
// types reject only what they cannot hold (a negative count, a zero
// duration, port 0).
func TestBadSettings(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want []string // all in stderr
	}{
		{[]string{"--retries", "255"}, []string{"--retries 255", "Config.Attempts 256", fmt.Sprint("at most ", rawcheck.MaxAttempts)}},
		{[]string{"--retries", "70000"}, []string{"--retries 70000", "Config.Attempts 70001"}},
		{[]string{"--retries", "-1"}, []string{`"-1"`, "--retries"}},
		{[]string{"--max-retries", "255"}, []string{"--max-retries 255", "Config.AttemptCeiling 256", fmt.Sprint("at most ", rawcheck.MaxAttempts)}},
		{[]string{"--timeout", "0s"}, []string{`"0s"`, "--timeout", "positive"}},
		{[]string{"--timeout", "-2s"}, []string{`"-2s"`, "--timeout", "positive"}},
		{[]string{"--source-ports", "9-1"}, []string{"--source-ports 9-1", "Config.SourcePorts 9-1"}},
		{[]string{"--source-ports", "0-9"}, []string{`"0-9"`, "--source-ports"}},
		{[]string{"--source-ports", "61000"}, []string{`"61000"`, "--source-ports"}},
		{[]string{"--rate", "-5"}, []string{"--rate -5", "Config.Rate -5"}},
		{[]string{"--window", "-1"}, []string{"--window -1", "Config.Window -1"}},
		{[]string{"--engine", "turbo"}, []string{"--engine turbo", `unknown engine "turbo"`}},
		{[]string{"--format", "xml"}, []string{"--format", `unknown output format "xml"`}},
	} {
		for _, sub := range [][]string{nil, {"serve", "--listen", "127.0.0.1:0"}} {
			if sub != nil && (tc.args[0] == "--format" || tc.args[0] == "--max-retries") {
				continue // scan flags (serve refuses --max-retries whatever its value: below)
			}
			args := append(append(append([]string{}, sub...), tc.args...), "198.18.0.1:80")
			if sub != nil {
				args = args[:len(args)-1]
			}
			checkRejected(t, args, tc.want)
		}
	}
	// serve makes a fixed number of attempts: --max-retries, even a valid
	// one, is refused rather than silently ignored.
	checkRejected(t, []string{"serve", "--listen", "127.0.0.1:0", "--max-retries", "3"}, []string{"--max-retries", "fixed number of attempts"})
	// Control: the limits themselves are accepted.
	for _, args := range [][]string{
		{"--retries", fmt.Sprint(rawcheck.MaxAttempts - 1), "--timeout", "1ns", "--source-ports", "1-1", "--force-source-ports", "--rate", "0", "--window", "0", "--engine", "connect", "--format", "csv"},
	} {
		if c := runCLI(t, append(args, "198.18.0.1:80")); c.code != 0 || len(c.opened) != 1 {
			t.Errorf("%q: exit %d, opened %v, stderr %q; want the scan to run", args, c.code, c.opened, c.stderr)
		}
	}
}

// TestFlagDefaults: without flags the engine gets rawcheck's defaults (the
// flags' defaults are the package's constants; no --retries means adaptive
// attempts, Attempts 0) and --retries N means N+1 attempts, 0 included.
func TestFlagDefaults(t *testing.T) {
	for _, tc := range []struct {
		args     []string
		attempts int
	}{
		{nil, 0},
		{[]string{"--retries", "2"}, 3},
		{[]string{"--retries", "0"}, 1},
		{[]string{"--retries", "5"}, 6},
	} {
		var got engine.Config
		c := runCLI(t, append(tc.args, "198.18.0.1:80"), func(e *env, c *cli) {
			e.openEngine = func(name string, cfg engine.Config) (engine.Engine, string, error) {
				got = cfg
				return c.fake, "", nil
			}
		})
		want := engine.Config{
			Rate:           defaultRate,
			Timeout:        rawcheck.DefaultTimeout,
			Attempts:       tc.attempts,
			AttemptCeiling: rawcheck.DefaultAttemptCeiling,
			SourcePorts:    [2]uint16{rawcheck.DefaultSourcePortLow, rawcheck.DefaultSourcePortHigh},
		}
		if c.code != 0 || got != want {
			t.Errorf("%q: exit %d, engine config %+v, want %+v", tc.args, c.code, got, want)
		}
	}
}

// TestExitStatusByErrorType: a setting the engine rejects is bad input (2)
// wherever it surfaces, even from opening the engine; any other error
// there is a runtime error (3).
func TestExitStatusByErrorType(t *testing.T) {
	for _, tc := range []struct {
		err  error
		code int
	}{
		{&rawcheck.ConfigError{Field: "Rate", Value: -1, Want: ">= 0"}, 2},
		{fmt.Errorf("wrapped: %w", &engine.UnknownEngineError{Name: "x"}), 2},
		{fmt.Errorf("socket: %w", errTest), 3},
	} {
		c := runCLI(t, []string{"198.18.0.1:80"}, withOpenError(tc.err))
		if c.code != tc.code || !strings.Contains(c.stderr, tc.err.Error()) {
			t.Errorf("open error %v: exit %d, stderr %q; want %d", tc.err, c.code, c.stderr, tc.code)
		}
	}
}

var errTest = fmt.Errorf("test failure")

// TestServeTimeoutSplit: serve's --timeout is a probe's longest budget;
// the exporter sends its --retries+1 attempts one engine Probe each,
// splitting each scrape's budget among them, so the engines send one SYN
// per Probe and let it last up to the whole budget.
func TestServeTimeoutSplit(t *testing.T) {
	p, err := parseServe([]string{"--timeout", "6s", "--retries", "2"}, env{})
	if err != nil || p.timeout != 6*time.Second || p.attempts != 3 || p.cfg.Timeout != 6*time.Second || p.cfg.Attempts != 1 {
		t.Errorf("parseServe = %+v, %v; want a 6s budget, 3 exporter attempts of one engine SYN each", p, err)
	}
}

// checkRejected runs the command with args and fails t unless it exits 2
// with a stderr naming every string of want, having opened no output,
// probed nothing and written nothing to stdout.
func checkRejected(t *testing.T, args, want []string) {
	t.Helper()
	c := runCLI(t, args)
	ok := c.code == 2 && len(c.opened) == 0 && len(c.fake.probed) == 0 && c.stdout == ""
	for _, w := range want {
		ok = ok && strings.Contains(c.stderr, w)
	}
	if !ok {
		t.Errorf("%q: exit %d, opened %v, probed %v, stdout %q, stderr %q; want exit 2 naming %q, nothing opened",
			args, c.code, c.opened, c.fake.probed, c.stdout, c.stderr, want)
	}
}
