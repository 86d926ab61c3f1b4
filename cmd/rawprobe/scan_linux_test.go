package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rawprobe/rawprobe/internal/verify/pcapcheck"
	"github.com/rawprobe/rawprobe/internal/verify/testnet"
)

// runHere runs the command with args in this process (a RunInProber
// child) and returns its exit status, stdout and stderr.
func runHere(args []string) (int, string, string) {
	var stdout, stderr bytes.Buffer
	e := defaultEnv()
	e.stdout, e.stderr, e.stderrTerminal = &stdout, &stderr, false
	code := run(context.Background(), args, e)
	return code, stdout.String(), stderr.String()
}

// TestScanNamespace runs the command with the raw engine in the prober
// namespace of a test network: 256 open ports, 256 closed, 32 silent and
// 32 unreachable targets. The counts must be exact, and the capture on the
// prober's veth must show every SYN-ACK answered by exactly one RST and no
// ACK; the target application accepts nothing.
func TestScanNamespace(t *testing.T) {
	args := []string{"--engine", "raw", "--format", "csv", "--timeout", "300ms", "--retries", "1", "--seed", "11",
		"-p", "80,81", "198.18.7.0/24", "198.19.0.0/28", "203.0.113.0/28"}
	if _, ok := testnet.Child(); ok {
		code, stdout, stderr := runHere(args)
		if code != 1 {
			t.Fatalf("exit %d\n%s", code, stderr)
		}
		if want := "probed 576, open 256, closed 256, timeout 32, unreachable 32, noroute 0, invalid replies 0"; !strings.Contains(stderr, want) {
			t.Errorf("summary %q, want %q", stderr, want)
		}
		lines := strings.Split(strings.TrimSpace(stdout), "\n")
		if len(lines) != 577 {
			t.Errorf("%d CSV lines, want a header and 576 rows", len(lines))
		}
		for _, want := range []string{"198.18.7.9:80,198.18.7.9,80,http,open,", "198.18.7.9:81,198.18.7.9,81,,closed,", "198.19.0.3:80,198.19.0.3,80,http,timeout,", "203.0.113.5:81,203.0.113.5,81,,unreachable,"} {
			if !strings.Contains(stdout, want) {
				t.Errorf("output lacks %q", want)
			}
		}
		return
	}
	rep := runCapturedInProber(t)
	if rep.SYNACKFlows != 256 {
		t.Errorf("capture: %d SYN-ACK flows, want 256\n%v", rep.SYNACKFlows, rep)
	}
	t.Log(fmt.Sprint(rep.Gap))
}

// runCapturedInProber runs the calling test in the prober namespace of a
// new test network whose target listens on port 80, capturing the
// prober's link, and returns the capture's report after checking what
// every run of the command must show: no violation (each SYN-ACK answered
// by one RST, no ACK), and no connection accepted by the target.
func runCapturedInProber(t *testing.T) *pcapcheck.Report {
	t.Helper()
	n := testnet.New(t)
	l := n.Listen(t, "tcp", ":80")
	c := pcapcheck.Start(t, n.ProberLink, n.InProber)
	n.RunInProber(t)
	rep := c.Analyze()
	if err := rep.Err(); err != nil {
		t.Error(err)
	}
	if rep.ACKOnlySegments != 0 {
		t.Errorf("capture: %d ACK-only segments, want 0", rep.ACKOnlySegments)
	}
	for _, f := range rep.Flows {
		if f.Reply == pcapcheck.SYNACK && f.ProberRSTs != 1 {
			t.Errorf("%v: %d RSTs after the SYN-ACK, want 1", f.Target, f.ProberRSTs)
		}
	}
	if a := l.Accepted(); a != 0 {
		t.Errorf("the target application accepted %d connections", a)
	}
	return rep
}

// TestScanNamespaceNoRoute: with the raw engine in the prober namespace,
// where only the test prefixes are routed, a scan with an unroutable
// target (TEST-NET-1 192.0.2.1) among answering ones goes on: every target
// gets its line, the unroutable one "noroute" with no attempt, and the
// command exits 1 (a target not open), not 3 (a runtime error). The
// capture shows SYNs to the routable targets and none to 192.0.2.1.
func TestScanNamespaceNoRoute(t *testing.T) {
	args := []string{"--engine", "raw", "--format", "csv", "--timeout", "300ms", "--retries", "0",
		"198.18.7.1:80", "192.0.2.1:80", "198.18.7.2:81", "198.18.7.3:80"}
	if _, ok := testnet.Child(); ok {
		code, stdout, stderr := runHere(args)
		if code != 1 {
			t.Fatalf("exit %d, want 1 (not every target open)\n%s", code, stderr)
		}
		if want := "probed 4, open 2, closed 1, timeout 0, unreachable 0, noroute 1, invalid replies 0"; !strings.Contains(stderr, want) {
			t.Errorf("summary %q, want %q", stderr, want)
		}
		for _, want := range []string{"198.18.7.1:80,198.18.7.1,80,http,open,", "192.0.2.1:80,192.0.2.1,80,http,noroute,0,0,0,0,0,", "198.18.7.2:81,198.18.7.2,81,,closed,", "198.18.7.3:80,198.18.7.3,80,http,open,"} {
			if !strings.Contains(stdout, want) {
				t.Errorf("output lacks %q:\n%s", want, stdout)
			}
		}
		return
	}
	rep := runCapturedInProber(t)
	targets := map[string]bool{}
	for _, f := range rep.Flows {
		targets[f.Target.String()] = true
	}
	for _, want := range []string{"198.18.7.1:80", "198.18.7.2:81", "198.18.7.3:80"} {
		if !targets[want] {
			t.Errorf("no flow to %s in the capture: %v", want, rep)
		}
	}
	if targets["192.0.2.1:80"] || len(targets) != 3 {
		t.Errorf("capture flows to %v; want the 3 routable targets only", targets)
	}
}

// TestSweepNamespace runs the command with --sweep in the prober
// namespace of a test network: 256 open ports, 256 closed, 32 silent and
// 32 unreachable targets and two without a route. Only the 546 that answer
// or have no route are listed; the summary counts the 32 silent ones as no
// answer, and the stats file says the same; the capture shows one SYN per
// target, every SYN-ACK answered by exactly one RST and no ACK.
func TestSweepNamespace(t *testing.T) {
	statsFile := filepath.Join(t.TempDir(), "stats.json")
	args := []string{"--sweep", "--format", "csv", "--timeout", "300ms", "--seed", "11", "--stats-file", statsFile,
		"-p", "80,81", "198.18.7.0/24", "198.19.0.0/28", "203.0.113.0/28", "192.0.2.1"}
	if _, ok := testnet.Child(); ok {
		code, stdout, stderr := runHere(args)
		if code != 1 {
			t.Fatalf("exit %d\n%s", code, stderr)
		}
		if want := "swept 578, open 256, closed 256, unreachable 32, noroute 2, no answer 32 (not listed), invalid replies 0"; !strings.Contains(stderr, want) {
			t.Errorf("summary %q, want %q", stderr, want)
		}
		if strings.Contains(stderr, "loss estimate") {
			t.Errorf("summary %q gives a loss estimate, which a sweep cannot make", stderr)
		}
		lines := strings.Split(strings.TrimSpace(stdout), "\n")
		if len(lines) != 547 {
			t.Errorf("%d CSV lines, want a header and 546 rows", len(lines))
		}
		for _, want := range []string{"198.18.7.9:80,198.18.7.9,80,http,open,", "198.18.7.9:81,198.18.7.9,81,,closed,", "203.0.113.5:81,203.0.113.5,81,,unreachable,", "192.0.2.1:80,192.0.2.1,80,http,noroute,"} {
			if !strings.Contains(stdout, want) {
				t.Errorf("output lacks %q", want)
			}
		}
		if strings.Contains(stdout, "198.19.0.3:80") || strings.Contains(stdout, "timeout") {
			t.Errorf("output lists a silent target:\n%s", stdout)
		}
		st, err := os.ReadFile(statsFile)
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{`"sweep": true`, `"probed": 578`, `"timeout": 0`, `"no_answer": 32`} {
			if !strings.Contains(string(st), want) {
				t.Errorf("stats file lacks %s:\n%s", want, st)
			}
		}
		return
	}
	rep := runCapturedInProber(t)
	if len(rep.Flows) != 576 || rep.SYNACKFlows != 256 {
		t.Errorf("capture: %d flows, %d SYN-ACK flows; want 576 and 256\n%v", len(rep.Flows), rep.SYNACKFlows, rep)
	}
	for _, f := range rep.Flows {
		if f.SYNs != 1 {
			t.Errorf("%v: %d SYNs, want 1", f.Target, f.SYNs)
		}
	}
}
