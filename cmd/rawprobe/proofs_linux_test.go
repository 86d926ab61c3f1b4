package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rawprobe/rawprobe/internal/cli/output"
	"github.com/rawprobe/rawprobe/internal/verify/netlab"
	"github.com/rawprobe/rawprobe/internal/verify/pcapcheck"
	"github.com/rawprobe/rawprobe/internal/verify/pcapconv"
	"github.com/rawprobe/rawprobe/internal/verify/testnet"
)

// nmapDTD is the DTD of nmap's XML output, as Debian's nmap installs it.
const nmapDTD = "/usr/share/nmap/nmap.dtd"

// requireTool skips t (or fails it under RAWPROBE_REQUIRE_PRIV=1, as
// RequirePrivileges does) when the command is not installed.
func requireTool(t *testing.T, cmd, pkg string) {
	t.Helper()
	if _, err := exec.LookPath(cmd); err != nil {
		if os.Getenv(testnet.EnvRequirePrivileges) == "1" {
			t.Fatalf("%s not found: install %s (make deps)", cmd, pkg)
		}
		t.Skipf("%s not found: install %s (make deps)", cmd, pkg)
	}
}

// proberRun runs the command (this test binary as rawprobe) in the prober
// namespace of n and returns its exit status, stdout and stderr.
func proberRun(t *testing.T, n *testnet.Net, args ...string) (int, string, string) {
	t.Helper()
	code, stdout, stderr, err := proberExec(n, args...)
	if err != nil {
		t.Fatal(err)
	}
	return code, stdout, stderr
}

// proberExec is proberRun for other goroutines than the test's: an error
// running the command is returned, not reported.
func proberExec(n *testnet.Net, args ...string) (int, string, string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := n.ProberCmd(ctx, os.Args[0], args...)
	cmd.Env = append(os.Environ(), envRunMain+"=1")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil && cmd.ProcessState == nil {
		return 0, "", "", fmt.Errorf("%q: %v", args, err)
	}
	return cmd.ProcessState.ExitCode(), stdout.String(), stderr.String(), nil
}

// liveTargets are an open and closed port (80, 81 of an answering
// address), a silent and an unreachable address, in IPv4 and IPv6.
func liveTargets(n *testnet.Net) (v4, v6 []string) {
	for _, p := range []netip.Prefix{n.Answering4, n.Silent4, n.Unreachable4} {
		v4 = append(v4, netlab.Nth(p, 1).String())
	}
	for _, p := range []netip.Prefix{n.Answering6, n.Silent6, n.Unreachable6} {
		v6 = append(v6, netlab.Nth(p, 1).String())
	}
	return v4, v6
}

// TestLiveNmapFormats scans open, closed, silent and unreachable targets
// (IPv4 and IPv6) with -oX and -oG: the XML is valid under nmap's DTD;
// ndiff, given it and the XML of a second scan after the listener closed,
// reports that port alone; and the grepable lines are those of `nmap -sS
// -Pn -oG` run on the same targets, port for port, state for state.
func TestLiveNmapFormats(t *testing.T) {
	testnet.RequirePrivileges(t)
	requireTool(t, "xmllint", "libxml2-utils")
	requireTool(t, "ndiff", "ndiff")
	requireTool(t, "nmap", "nmap")
	n := testnet.New(t)
	l := n.Listen(t, "tcp", ":80")
	v4, v6 := liveTargets(n)
	dir := t.TempDir()
	scan := func(name string) (xmlPath, grepPath string) {
		xmlPath, grepPath = filepath.Join(dir, name+".xml"), filepath.Join(dir, name+".gnmap")
		args := append([]string{"--engine", "raw", "--timeout", "300ms", "--retries", "0", "-p", "80,81", "-oX", xmlPath, "-oG", grepPath, "-o", "/dev/null"}, v4...)
		code, stdout, stderr := proberRun(t, n, append(args, v6...)...)
		if code != 1 || !strings.Contains(stderr, "probed 12,") {
			t.Fatalf("scan %s: exit %d\n%s%s", name, code, stdout, stderr)
		}
		return xmlPath, grepPath
	}
	before, grepBefore := scan("before")
	if out, err := exec.Command("xmllint", "--noout", "--dtdvalid", nmapDTD, before).CombinedOutput(); err != nil {
		t.Errorf("xmllint --dtdvalid %s: %v\n%s", nmapDTD, err, out)
	}
	// Negative control: the DTD rejects a port state without its reason.
	data, err := os.ReadFile(before)
	if err != nil {
		t.Fatal(err)
	}
	broken := filepath.Join(dir, "broken.xml")
	os.WriteFile(broken, bytes.Replace(data, []byte(` reason="syn-ack"`), nil, 1), 0o644)
	if err := exec.Command("xmllint", "--noout", "--dtdvalid", nmapDTD, broken).Run(); err == nil {
		t.Error("xmllint accepted a <state> without reason: the validation checks nothing")
	}

	// nmap itself, on the same targets, one run per address family.
	nmapLines := map[string]string{}
	for _, set := range [][]string{v4, v6} {
		path := filepath.Join(dir, "nmap.gnmap")
		args := []string{"-sS", "-Pn", "-n", "-p", "80,81", "--max-retries", "0", "--max-rtt-timeout", "300ms", "-oG", path}
		if strings.Contains(set[0], ":") {
			args = append(args, "-6")
		}
		if out, err := n.ProberCmd(context.Background(), "nmap", append(args, set...)...).CombinedOutput(); err != nil {
			t.Fatalf("nmap: %v\n%s", err, out)
		}
		for k, v := range grepableHosts(t, path) {
			nmapLines[k] = v
		}
	}
	ours := grepableHosts(t, grepBefore)
	if len(ours) != 6 || len(nmapLines) != 6 {
		t.Fatalf("hosts: ours %v, nmap's %v; want 6 each", ours, nmapLines)
	}
	for host, line := range nmapLines {
		if ours[host] != line {
			t.Errorf("%s:\nours   %q\nnmap's %q", host, ours[host], line)
		}
	}

	l.Close()
	after, _ := scan("after")
	out, err := exec.Command("ndiff", before, after).CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
		t.Fatalf("ndiff: %v, want exit 1 (differences)\n%s", err, out)
	}
	changed := regexp.MustCompile(`(?m)^[-+]80/tcp\s+(open|closed)`).FindAllString(string(out), -1)
	if len(changed) != 4 { // open -> closed on 80 of the IPv4 and the IPv6 address
		t.Errorf("ndiff reports %q, want 80/tcp open -> closed on two hosts:\n%s", changed, out)
	}
	if strings.Contains(string(out), "81/tcp") {
		t.Errorf("ndiff reports port 81, which did not change:\n%s", out)
	}
}

// grepableHosts returns the Status and Ports lines of each host of a
// grepable file, service names left out (nmap names ports from its own
// nmap-services, rawprobe from /etc/services and IANA's registry).
func grepableHosts(t *testing.T, path string) map[string]string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	service := regexp.MustCompile(`/tcp//[^/]*///`)
	hosts := map[string]string{}
	for line := range strings.Lines(string(data)) {
		host, rest, ok := strings.Cut(strings.TrimSuffix(line, "\n"), "\t")
		if !ok || !strings.HasPrefix(host, "Host: ") {
			continue
		}
		hosts[host] += service.ReplaceAllString(rest, "/tcp//-///") + ";"
	}
	return hosts
}

// tcpdump captures on the prober's link into path until the returned
// function stops it. --immediate-mode hands every packet to tcpdump as it
// arrives: otherwise libpcap delivers them in blocks, and the packets of a
// block not yet handed over when tcpdump is interrupted are lost.
func tcpdump(t *testing.T, n *testnet.Net, path string) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	cmd := n.ProberCmd(ctx, "tcpdump", "-i", n.ProberLink, "--immediate-mode", "-U", "-n", "-w", path, "tcp or icmp or icmp6")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("tcpdump: %v", err)
	}
	done := make(chan struct{})
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		time.Sleep(200 * time.Millisecond) // the last replies reach the capture
		cmd.Process.Signal(os.Interrupt)
		<-done
		cmd.Wait()
		cancel()
	}
	t.Cleanup(stop)
	ready := make(chan bool, 1)
	go func() {
		defer close(done)
		s := bufio.NewScanner(stderr)
		for s.Scan() {
			if strings.Contains(s.Text(), "listening on") {
				ready <- true
			}
		}
		ready <- false
	}()
	select {
	case ok := <-ready:
		if !ok {
			t.Fatal("tcpdump ended before it listened")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("tcpdump did not start listening within 10s")
	}
	return stop
}

// TestLiveVerify: `rawprobe verify` on tcpdump captures in the test
// network. net.Dial's handshakes: exit 1 naming each flow; a rawprobe scan
// with the raw engine and one with the connect engine (compat's): exit 0;
// the same captures as pcapng: the same verdicts; a truncated one: exit 2.
func TestLiveVerify(t *testing.T) {
	testnet.RequirePrivileges(t)
	requireTool(t, "tcpdump", "tcpdump")
	n := testnet.New(t)
	n.Listen(t, "tcp", ":80")
	dir := t.TempDir()
	v4, v6 := liveTargets(n)

	dialPcap := filepath.Join(dir, "dial.pcap")
	stop := tcpdump(t, n, dialPcap)
	dialed := []string{net.JoinHostPort(v4[0], "80"), net.JoinHostPort(netlab.Nth(n.Answering4, 2).String(), "80"), net.JoinHostPort(v6[0], "80")}
	err := n.InProber(func() error {
		for _, a := range dialed {
			c, err := net.DialTimeout("tcp", a, 2*time.Second)
			if err != nil {
				return err
			}
			c.Close()
		}
		return nil
	})
	stop()
	if err != nil {
		t.Fatal(err)
	}

	scanPcap := filepath.Join(dir, "scan.pcap")
	stop = tcpdump(t, n, scanPcap)
	for _, eng := range []string{"raw", "connect"} {
		args := append([]string{"--engine", eng, "--timeout", "300ms", "--retries", "0", "-p", "80,81"}, append(v4, v6...)...)
		if code, stdout, stderr := proberRun(t, n, args...); code != 1 || !strings.Contains(stderr, "open 2, closed 2") {
			t.Fatalf("%s scan: exit %d\n%s%s", eng, code, stdout, stderr)
		}
	}
	stop()

	for _, path := range []string{dialPcap, toPcapng(t, dialPcap)} {
		c := runCLI(t, []string{"verify", path})
		if c.code != 1 {
			t.Errorf("verify %s: exit %d, want 1\n%s%s", path, c.code, c.stdout, c.stderr)
		}
		for _, a := range dialed {
			if !strings.Contains(c.stderr, "-> "+netip.MustParseAddrPort(a).String()+"\n") {
				t.Errorf("verify %s: stderr does not name the flow to %s:\n%s", path, a, c.stderr)
			}
		}
		if got := strings.Count(c.stderr, "handshake completed"); got != len(dialed) {
			t.Errorf("verify %s: %d flows named, want %d:\n%s", path, got, len(dialed), c.stderr)
		}
	}
	for _, path := range []string{scanPcap, toPcapng(t, scanPcap)} {
		c := runCLI(t, []string{"verify", path})
		// 2 engines × 12 targets, the open ones answered SYN-ACK.
		if c.code != 0 || !strings.Contains(c.stdout, "24 flows: 4 syn-ack") || !strings.Contains(c.stdout, "0 handshakes completed") {
			t.Errorf("verify %s: exit %d, want 0\n%s%s", path, c.code, c.stdout, c.stderr)
		}
	}
	data, err := os.ReadFile(scanPcap)
	if err != nil {
		t.Fatal(err)
	}
	cut := filepath.Join(dir, "cut.pcap")
	os.WriteFile(cut, data[:len(data)-3], 0o644)
	if c := runCLI(t, []string{"verify", cut}); c.code != 2 || !strings.Contains(c.stderr, "truncated") {
		t.Errorf("verify of a truncated capture: exit %d, stderr %q; want 2", c.code, c.stderr)
	}
}

// toPcapng rewrites the pcap at src as pcapng next to it.
func toPcapng(t *testing.T, src string) string {
	t.Helper()
	dst := strings.TrimSuffix(src, ".pcap") + ".pcapng"
	if err := pcapconv.ToPcapng(dst, src); err != nil {
		t.Fatal(err)
	}
	return dst
}

// TestLiveWait: with either engine, --wait 10s on a port whose listener
// starts 1.5 s later exits 0 soon after it starts; --wait 2s on a silent
// address exits 1 after about 2 s; the capture shows no completed
// handshake.
func TestLiveWait(t *testing.T) {
	testnet.RequirePrivileges(t)
	n := testnet.New(t)
	c := pcapcheck.Start(t, n.ProberLink, n.InProber)
	target := netlab.Nth(n.Answering4, 3)
	for i, eng := range []string{"raw", "connect"} {
		port := strconv.Itoa(5432 + i)
		type result struct {
			code           int
			stdout, stderr string
			took           time.Duration
			err            error
		}
		done := make(chan result, 1)
		start := time.Now()
		go func() {
			var r result
			r.code, r.stdout, r.stderr, r.err = proberExec(n, "--engine", eng, "--timeout", "300ms", "--wait", "10s", net.JoinHostPort(target.String(), port))
			r.took = time.Since(start)
			done <- r
		}()
		time.Sleep(1500 * time.Millisecond)
		n.Listen(t, "tcp", ":"+port)
		listening := time.Since(start)
		r := <-done
		if r.err != nil {
			t.Fatal(r.err)
		}
		if r.code != 0 || !strings.Contains(r.stderr, "closed -> open") || !strings.Contains(r.stdout, " open ") {
			t.Errorf("%s: exit %d\n%s%s", eng, r.code, r.stdout, r.stderr)
		}
		// The backoff is at most 1 s, a round of a closed port short.
		if r.took < listening || r.took > listening+3*time.Second {
			t.Errorf("%s: exit after %v, the listener started after %v", eng, r.took, listening)
		}
	}
	silent := netlab.Nth(n.Silent4, 1)
	start := time.Now()
	code, stdout, stderr := proberRun(t, n, "--engine", "connect", "--timeout", "300ms", "--wait", "2s", net.JoinHostPort(silent.String(), "80"))
	took := time.Since(start)
	if code != 1 || !strings.Contains(stderr, "probing -> timeout") {
		t.Errorf("silent: exit %d\n%s%s", code, stdout, stderr)
	}
	if took < 2*time.Second || took > 5*time.Second {
		t.Errorf("silent: --wait 2s exited after %v", took)
	}
	rep := c.Analyze()
	if err := rep.Err(); err != nil || rep.CompletedFlows != 0 || rep.SYNACKFlows == 0 {
		t.Errorf("capture: %v, %d handshakes completed, %d SYN-ACK flows; want none completed, some SYN-ACKs\n%v", err, rep.CompletedFlows, rep.SYNACKFlows, rep)
	}
}

// TestLiveDiffAndStats scans the test network's open, closed, silent and
// unreachable targets (IPv4 and IPv6, ports 80 and 81) twice, the listener
// on 80 closed between the runs. The stats file of the first run has the
// counts the network dictates; the second run with --diff writes exactly
// the two ports that closed.
func TestLiveDiffAndStats(t *testing.T) {
	testnet.RequirePrivileges(t)
	n := testnet.New(t)
	l := n.Listen(t, "tcp", ":80")
	v4, v6 := liveTargets(n)
	dir := t.TempDir()
	first, statsPath := filepath.Join(dir, "first.jsonl"), filepath.Join(dir, "stats.json")
	args := append([]string{"--engine", "raw", "--timeout", "300ms", "--retries", "1", "--seed", "9", "-p", "80,81", "--format", "jsonl"}, append(v4, v6...)...)
	if code, _, stderr := proberRun(t, n, append(args, "-o", first, "--stats-file", statsPath)...); code != 1 {
		t.Fatalf("first scan: exit %d\n%s", code, stderr)
	}
	data, err := os.ReadFile(statsPath)
	if err != nil {
		t.Fatal(err)
	}
	var st output.RunStats
	if err := json.Unmarshal(data, &st); err != nil {
		t.Fatal(err)
	}
	want := output.StateCounts{Probed: 12, Open: 2, Closed: 2, Timeout: 4, Unreachable: 4}
	if st.Counts != want || st.TargetSetSize != 12 || st.Seed != 9 || st.Engine != "raw" || st.InvalidReplies != 0 || st.Drops != 0 {
		t.Errorf("stats %+v\nwant counts %+v, 12 targets, seed 9, raw, no invalid replies or drops", st, want)
	}
	// The silent targets took 2 attempts each; the others answered the first.
	if st.Retransmissions != 4 || st.RTT.N != 8 || st.RTT.Max <= 0 || st.RTT.Max > 300_000 {
		t.Errorf("retransmissions %d, rtt %+v; want 4 and 8 RTTs under the 300ms timeout", st.Retransmissions, st.RTT)
	}
	l.Close()
	code, stdout, stderr := proberRun(t, n, append(args, "--diff", first)...)
	if code != 1 || !strings.Contains(stderr, "probed 12,") {
		t.Fatalf("second scan: exit %d\n%s", code, stderr)
	}
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	if len(lines) != 2 {
		t.Fatalf("--diff wrote %d lines, want the 2 ports that closed:\n%s", len(lines), stdout)
	}
	for _, a := range []string{v4[0], v6[0]} {
		if !strings.Contains(stdout, `"ip":"`+a+`","port":80,"service":"http","state":"closed"`) {
			t.Errorf("--diff output lacks %s:80 closed:\n%s", a, stdout)
		}
	}
}

// TestLiveWatch: watch --fall 3 --rise 2 on a target whose SYNs the
// target's nft starts dropping, then accepts again, writes exactly one down
// and one up record, each after the number of checks the counts predict.
func TestLiveWatch(t *testing.T) {
	testnet.RequirePrivileges(t)
	n := testnet.New(t)
	n.Listen(t, "tcp", ":80")
	const interval, timeout = 300 * time.Millisecond, 100 * time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	target := net.JoinHostPort(netlab.Nth(n.Answering4, 4).String(), "80")
	cmd := n.ProberCmd(ctx, os.Args[0], "watch", "--engine", "raw", "--interval", interval.String(), "--timeout", timeout.String(),
		"--retries", "0", "--fall", "3", "--rise", "2", "--format", "jsonl", target)
	cmd.Env = append(os.Environ(), envRunMain+"=1")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	time.Sleep(4 * interval) // up, as every target starts: no record
	dropFrom := time.Now()
	if err := n.SetLoss(1); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.SetLoss(0) })
	time.Sleep(8 * interval)
	acceptFrom := time.Now()
	if err := n.SetLoss(0); err != nil {
		t.Fatal(err)
	}
	time.Sleep(8 * interval)
	cmd.Process.Signal(os.Interrupt)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("watch: %v\n%s", err, stderr.String())
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("%d records, want one down and one up:\n%s%s", len(lines), stdout.String(), stderr.String())
	}
	var recs [2]struct {
		To, State string
		Time      time.Time
	}
	for i, l := range lines {
		if err := json.Unmarshal([]byte(l), &recs[i]); err != nil {
			t.Fatal(err)
		}
	}
	if recs[0].To != "down" || recs[0].State != "timeout" || recs[1].To != "up" || recs[1].State != "open" {
		t.Fatalf("records %+v", recs)
	}
	// The third failed check ends between 2 and 3 intervals (and its
	// timeout) after the drops begin; the second open check between 1 and
	// 2 intervals after they end. 150ms allow for the checks' own time.
	slack := 150 * time.Millisecond
	if d := recs[0].Time.Sub(dropFrom); d < 2*interval || d > 3*interval+timeout+slack {
		t.Errorf("down %v after the drops began, want %v to %v", d, 2*interval, 3*interval+timeout+slack)
	}
	if d := recs[1].Time.Sub(acceptFrom); d < interval || d > 2*interval+slack {
		t.Errorf("up %v after the drops ended, want %v to %v", d, interval, 2*interval+slack)
	}
}
