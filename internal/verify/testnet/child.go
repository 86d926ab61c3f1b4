package testnet

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"
)

// childTimeout bounds a RunInProber child when the parent test has no
// deadline.
const childTimeout = 10 * time.Minute

// RunInProber re-runs the running test (t.Name(), subtests included, and
// nothing else) in a child process of the same test binary started with
// `ip netns exec <ProberNS>`, so that every socket the child creates, on
// any thread, lives in the prober namespace. The child gets n through the
// environment (see Child), plus env ("NAME=value" entries), and runs with
// -test.v, -test.count=1, -test.short when the parent is short, and a
// timeout within the parent's deadline. Its output is logged through t.
// RunInProber fails t if the child fails, does not run the test, or is
// killed by the timeout; it skips t if the child skipped.
//
// The test must call Child first and, in the child, run only its
// prober-side half; see the package example.
func (n *Net) RunInProber(t *testing.T, env ...string) {
	t.Helper()
	if _, ok := Child(); ok {
		t.Fatal("testnet: RunInProber called in a RunInProber child; check testnet.Child() first")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatalf("testnet: finding the test binary: %v", err)
	}
	state, err := json.Marshal(n.Net)
	if err != nil {
		t.Fatalf("testnet: encoding the Net for the child: %v", err)
	}

	timeout := childTimeout
	if d, ok := t.Deadline(); ok {
		// Leave the parent time to report the child's failure.
		timeout = time.Until(d) * 9 / 10
	}
	if timeout < time.Second {
		t.Fatalf("testnet: too little time left before the test deadline to run the child (%v)", timeout)
	}
	args := []string{"netns", "exec", n.ProberNS, exe,
		"-test.run=" + RunPattern(t.Name()),
		"-test.v=true",
		"-test.count=1",
		"-test.timeout=" + timeout.String(),
	}
	if testing.Short() {
		args = append(args, "-test.short")
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout+5*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ip", args...)
	cmd.Env = append(os.Environ(), envChild+"="+string(state))
	if _, ok := os.LookupEnv("GORACE"); !ok {
		// A race-enabled binary sleeps a second before exiting, by
		// default, so late reports can appear; the child need not.
		cmd.Env = append(cmd.Env, "GORACE=atexit_sleep_ms=50")
	}
	cmd.Env = append(cmd.Env, env...)
	cmd.WaitDelay = 5 * time.Second
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatalf("testnet: pipe for the child's output: %v", err)
	}
	defer r.Close()
	cmd.Stdout, cmd.Stderr = w, w
	setParentDeathSignal(cmd)

	// The child dies with the thread that started it (parent-death
	// signal): keep that thread for this goroutine until the child ends.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	err = cmd.Start()
	w.Close()
	if err != nil {
		t.Fatalf("testnet: starting the child: %v", err)
	}

	passed, skipped := "--- PASS: "+t.Name()+" (", "--- SKIP: "+t.Name()+" ("
	var sawPass, sawSkip bool
	s := bufio.NewScanner(r)
	s.Buffer(make([]byte, 64*1024), 1024*1024)
	for s.Scan() {
		line := s.Text()
		trimmed := strings.TrimSpace(line)
		sawPass = sawPass || strings.HasPrefix(trimmed, passed)
		sawSkip = sawSkip || strings.HasPrefix(trimmed, skipped)
		t.Log("child: " + line)
	}
	werr := cmd.Wait()
	switch {
	case ctx.Err() != nil:
		t.Fatalf("testnet: child %s killed after %v: %v", t.Name(), timeout, werr)
	case werr != nil:
		t.Fatalf("testnet: child %s failed: %v", t.Name(), werr)
	case sawSkip && !sawPass:
		if os.Getenv(EnvRequirePrivileges) == "1" {
			t.Fatalf("testnet: child %s skipped (%s=1 forbids skipping)", t.Name(), EnvRequirePrivileges)
		}
		t.Skipf("child %s skipped", t.Name())
	case !sawPass:
		t.Fatalf("testnet: child did not run %s (no PASS line for it)", t.Name())
	}
}

// RunPattern returns the -test.run pattern that selects exactly the test
// or subtest called name (as t.Name() spells it), e.g. "^TestA$/^b$".
func RunPattern(name string) string {
	parts := strings.Split(name, "/")
	for i, p := range parts {
		parts[i] = "^" + regexp.QuoteMeta(p) + "$"
	}
	return strings.Join(parts, "/")
}
