package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rawprobe/rawprobe/internal/cli/output"
	"github.com/rawprobe/rawprobe/internal/verify/testnet"
)

// scanProc runs one rawprobe scan (this test binary acting as the
// command) in n's prober namespace.
func scanProc(ctx context.Context, n *testnet.Net, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", n.ProberNS, os.Args[0]}, args...)...)
	cmd.Env = append(os.Environ(), envRunMain+"=1")
	cmd.WaitDelay = 5 * time.Second
	return cmd
}

// TestSideBySideProcesses is the proof for several rawprobe processes on
// one host: two scans of 32,768 targets each (one half of the answering
// /16 on the open port 80, the other half on the closed port 81) and an
// exporter answering /probe requests all the while run at the same time
// in the prober namespace, each with its own raw engine. Every scan result
// must be the test network's truth, each target exactly once, neither
// scan may count a reply as invalid (the other's replies never reach it),
// and every /probe answer must be right. The negative control of the
// checking is the second half's port: a scan that mixed up results would
// report opens on port 81.
func TestSideBySideProcesses(t *testing.T) {
	testnet.RequirePrivileges(t)
	n := testnet.New(t)
	n.Listen(t, "tcp", ":80")
	exp := startExporter(t, n, 19140, "--engine", "raw")
	truth := promTruth(n)

	halves := []struct {
		prefix netip.Prefix
		port   uint16
		state  string
	}{
		{netip.PrefixFrom(n.Answering4.Addr(), 17), 80, "open"},
		{netip.PrefixFrom(netip.AddrFrom4([4]byte{198, 18, 128, 0}), 17), 81, "closed"},
	}
	if !n.Answering4.Contains(halves[1].prefix.Addr()) || n.Answering4.Bits() != 16 {
		t.Fatalf("the answering prefix %v is not 198.18.0.0/16", n.Answering4)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Second)
	defer cancel()

	// The exporter is asked about every truth target, one client per
	// target, again and again until both scans have ended.
	scansDone := make(chan struct{})
	var mu sync.Mutex
	var probes, duringScans int
	var probeErrs []string
	var probeWG sync.WaitGroup
	c := proberClient(n, 10*time.Second)
	for target, want := range truth {
		probeWG.Add(1)
		go func() {
			defer probeWG.Done()
			for {
				select {
				case <-scansDone:
					return
				default:
				}
				r, err := getProbe(ctx, c, exp, target, "syn", "")
				mu.Lock()
				switch {
				case err != nil:
					probeErrs = append(probeErrs, fmt.Sprintf("%s: %v", target, err))
				case r.metrics["probe_success"] != want[0] || r.metrics["probe_syn_state"] != want[1]:
					probeErrs = append(probeErrs, fmt.Sprintf("%s: success %v state %v, want %v %v", target,
						r.metrics["probe_success"], r.metrics["probe_syn_state"], want[0], want[1]))
				}
				probes++
				select {
				case <-scansDone:
				default:
					duringScans++
				}
				mu.Unlock()
			}
		}()
	}

	type scanOut struct {
		stdout, stderr bytes.Buffer
		err            error
	}
	outs := make([]*scanOut, len(halves))
	var wg sync.WaitGroup
	start := time.Now()
	for i, h := range halves {
		outs[i] = &scanOut{}
		cmd := scanProc(ctx, n, "--engine", "raw", "--format", "jsonl", "--stats", "-p", fmt.Sprint(h.port), h.prefix.String())
		cmd.Stdout, cmd.Stderr = &outs[i].stdout, &outs[i].stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			outs[i].err = cmd.Wait()
		}()
	}
	wg.Wait()
	took := time.Since(start)
	close(scansDone)
	probeWG.Wait()

	for i, h := range halves {
		o := outs[i]
		// Exit 1: not every target open (the closed half), 0 for the open
		// half; anything else is a failure.
		if ee, ok := o.err.(*exec.ExitError); o.err != nil && (!ok || ee.ExitCode() != 1 || h.state == "open") {
			t.Errorf("scan of %v port %d: %v\n%s", h.prefix, h.port, o.err, o.stderr.String())
			continue
		}
		seen := make(map[netip.Addr]int, 32768)
		var stats *output.RunStats
		sc := bufio.NewScanner(&o.stdout)
		for sc.Scan() {
			line := sc.Bytes()
			if bytes.HasPrefix(line, []byte(`{"stats"`)) {
				var s struct{ Stats output.RunStats }
				if err := json.Unmarshal(line, &s); err != nil {
					t.Fatal(err)
				}
				stats = &s.Stats
				continue
			}
			var r struct {
				IP    string `json:"ip"`
				Port  uint16 `json:"port"`
				State string `json:"state"`
			}
			if err := json.Unmarshal(line, &r); err != nil {
				t.Fatalf("%v: %q", err, line)
			}
			a, err := netip.ParseAddr(r.IP)
			if err != nil || !h.prefix.Contains(a) || r.Port != h.port || r.State != h.state {
				t.Errorf("scan of %v port %d: result %s", h.prefix, h.port, line)
				continue
			}
			seen[a]++
		}
		if len(seen) != 32768 {
			t.Errorf("scan of %v port %d: %d targets with results, want 32,768", h.prefix, h.port, len(seen))
		}
		for a, c := range seen {
			if c != 1 {
				t.Errorf("%v: %d results", a, c)
			}
		}
		switch {
		case stats == nil:
			t.Errorf("scan of %v: no stats line", h.prefix)
		case stats.Engine != "raw" || stats.InvalidReplies != 0:
			t.Errorf("scan of %v: engine %s, %d invalid replies: want raw and 0 (another process's replies never count)\n%s",
				h.prefix, stats.Engine, stats.InvalidReplies, o.stderr.String())
		default:
			t.Logf("scan of %v port %d: %s", h.prefix, h.port, strings.TrimSpace(o.stderr.String()))
		}
	}
	t.Logf("both scans took %v; the exporter answered %d probes, %d of them while the scans ran", took, probes, duringScans)
	if len(probeErrs) > 0 {
		t.Errorf("%d of %d /probe answers wrong, e.g. %s", len(probeErrs), probes, probeErrs[0])
	}
	if probes < len(truth) || duringScans == 0 {
		t.Errorf("the exporter answered %d probes, %d while the scans ran: want at least %d, and some while they ran", probes, duringScans, len(truth))
	}
	m := exporterMetrics(t, proberClient(n, 5*time.Second), exp)
	if v := m["rawprobe_engine_replies_invalid_total{module=syn}"]; v != 0 {
		t.Errorf("the exporter counted %v invalid replies, want 0", v)
	}
	if s := exp.stderr.String(); strings.Contains(s, "not available") {
		t.Errorf("exporter: %s", s)
	}
}
