package main

import (
	"strings"
	"testing"
	"time"
)

func TestWaitOpen(t *testing.T) {
	c := runCLI(t, []string{"--wait", "5s", "198.18.0.1:80", "db.example:5432"})
	if c.code != 0 || strings.Count(c.stderr, "probing -> open") != 2 || strings.Count(c.stdout, " open ") != 2 || len(c.fake.probed) != 2 {
		t.Errorf("exit %d, probed %v\n%s%s", c.code, c.fake.probed, c.stdout, c.stderr)
	}
}

// TestWaitNeverOpen: a closed target is probed round after round until
// the time is up; its state never changes, so stderr has one line for it.
func TestWaitNeverOpen(t *testing.T) {
	start := time.Now()
	c := runCLI(t, []string{"--wait", "400ms", "198.18.0.1:80", "198.18.0.2:80"})
	took := time.Since(start)
	if c.code != 1 || strings.Count(c.stderr, "->") != 2 || !strings.Contains(c.stderr, "198.18.0.2:80 probing -> closed") {
		t.Errorf("exit %d\n%s%s", c.code, c.stdout, c.stderr)
	}
	// 0.1 + 0.2 s of backoff fit in 0.4 s: at least three rounds for the
	// closed target, one for the open one (not probed again).
	open, closed := 0, 0
	for _, p := range c.fake.probed {
		switch p.String() {
		case "198.18.0.1:80":
			open++
		case "198.18.0.2:80":
			closed++
		}
	}
	if open != 1 || closed < 3 {
		t.Errorf("probed the open target %d times, the closed one %d; want 1 and at least 3", open, closed)
	}
	if took < 400*time.Millisecond || took > 5*time.Second {
		t.Errorf("--wait 400ms took %v", took)
	}
	if !strings.Contains(c.stdout, "198.18.0.2:80") || !strings.Contains(c.stdout, "attempts="+itoa(uint16(closed))) {
		t.Errorf("final results %q: want the closed target with its %d attempts", c.stdout, closed)
	}
}

func TestWaitBadInput(t *testing.T) {
	for _, args := range [][]string{{"--wait", "-1s", "198.18.0.1:80"}, {"--wait", "soon", "198.18.0.1:80"}} {
		if c := runCLI(t, args); c.code != 2 || len(c.fake.probed) != 0 || !strings.Contains(c.stderr, "wait") {
			t.Errorf("%q: exit %d, stderr %q", args, c.code, c.stderr)
		}
	}
}
