package main

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// withDrop records in calls, each time the command drops its
// capabilities, how many engines it had opened by then; err is what the
// drop returns.
func withDrop(calls *[]int, err error) runOpt {
	return func(e *env, c *cli) {
		e.dropCaps = func() error {
			*calls = append(*calls, len(c.opened))
			return err
		}
	}
}

// TestScanDropsAfterOpen: a scan and a --wait scan drop once, with their
// engine open.
func TestScanDropsAfterOpen(t *testing.T) {
	for _, args := range [][]string{
		{"198.18.0.1:80"},
		{"--wait", "1s", "198.18.0.1:80"},
	} {
		var calls []int
		c := runCLI(t, args, withDrop(&calls, nil))
		if c.code != 0 || fmt.Sprint(calls) != "[1]" {
			t.Errorf("%q: exit %d, drops with engines open %v, want [1]\n%s", args, c.code, calls, c.stderr)
		}
	}
}

// TestScanFailedDrop: a process that cannot drop its capabilities stops
// with a runtime error before it probes anything.
func TestScanFailedDrop(t *testing.T) {
	var calls []int
	c := runCLI(t, []string{"198.18.0.1:80"}, withDrop(&calls, errors.New("thread 7 kept CapEff 2000")))
	if c.code != exitRuntime || len(c.fake.probed) != 0 || !strings.Contains(c.stderr, "dropping privileges: thread 7 kept CapEff 2000") {
		t.Errorf("exit %d, probed %v, stderr %q; want %d, nothing probed, the reason", c.code, c.fake.probed, c.stderr, exitRuntime)
	}
}

// TestWaitWritesEveryTarget: --wait writes each target's last result
// once, whatever the order in which they opened (the targets that stay
// pending are filtered in place; the written list must not share that
// array).
func TestWaitWritesEveryTarget(t *testing.T) {
	targets := []string{"198.18.0.1:80", "198.18.0.2:80", "198.18.0.3:80"}
	for seed := range 6 {
		c := runCLI(t, append([]string{"--wait", "250ms", "--seed", fmt.Sprint(seed)}, targets...))
		for _, tg := range targets {
			if n := strings.Count(c.stdout, tg+" "); n != 1 {
				t.Errorf("seed %d: %s written %d times, want once:\n%s", seed, tg, n, c.stdout)
			}
		}
	}
}
