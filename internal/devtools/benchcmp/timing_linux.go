package main

import (
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/rawprobe/rawprobe/internal/verify/golden/record"
)

// The adaptive-timing tables: the whole answering /16 on the open port
// without and with loss (rawcheck with default timing, rawcheck with
// exactly 3 attempts, nmap -sS -T5, zmap -P 3), a silent /17, and a scan of
// three delay paths (1, 50 and 200 ms) together and one by one.

// timingTools are the external programs of the timing systems.
var timingTools = map[string]string{timNmap: "nmap", timZmap: "zmap"}

// delayPaths are the prefixes and delays of the mixed-delay scan.
var delayPaths = []struct {
	prefix        netip.Prefix
	delay, jitter time.Duration
}{
	{netip.MustParsePrefix("198.19.32.0/20"), time.Millisecond, 100 * time.Microsecond},
	{netip.MustParsePrefix("198.19.48.0/20"), 50 * time.Millisecond, 5 * time.Millisecond},
	{netip.MustParsePrefix("198.19.64.0/20"), 200 * time.Millisecond, 20 * time.Millisecond},
}

// silentPrefix is the /17 of the answering prefix made silent for the
// silent-scan row.
var silentPrefix = netip.MustParsePrefix("198.18.128.0/17")

// timing measures the timing tables in n.
func (b *bencher) timing() (*timingReport, error) {
	tr := &timingReport{runs: b.c.runs, loss: b.c.loss, scans: map[float64]map[string][]sample{}}
	whole := filepath.Join(b.dir, "whole16.txt")
	if err := writePrefix(whole, b.n.Answering4); err != nil {
		return nil, err
	}
	empty := filepath.Join(b.dir, "empty-blocklist.conf")
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		return nil, err
	}
	for _, loss := range []float64{0, b.c.loss} {
		if err := b.n.SetLoss(loss); err != nil {
			return nil, err
		}
		rows := map[string][]sample{}
		for run := range b.c.runs {
			for _, s := range timingSystems {
				if tool := timingTools[s]; tool != "" && !haveTool(tool) {
					continue
				}
				smp := b.timed(s, whole, b.n.Answering4, empty)
				fmt.Fprintf(os.Stderr, "timing loss %3.0f%% run %d %-18s %s\n", loss*100, run+1, s, smp)
				rows[s] = append(rows[s], smp)
			}
		}
		tr.scans[loss] = rows
	}
	if err := b.n.SetLoss(0); err != nil {
		return nil, err
	}
	// The silent /17: its SYNs are dropped in the target.
	silent := filepath.Join(b.dir, "silent17.txt")
	if err := writePrefix(silent, silentPrefix); err != nil {
		return nil, err
	}
	if err := nftIn(b.n.TargetNS, fmt.Sprintf(`table inet benchcmp_silent {
	chain prerouting {
		type filter hook prerouting priority -310; policy accept;
		ip daddr %s drop
	}
}
`, silentPrefix)); err != nil {
		return nil, err
	}
	for run := range b.c.runs {
		smp := b.timed(timAdaptive, silent, silentPrefix, empty)
		fmt.Fprintf(os.Stderr, "timing silent /17 run %d %s\n", run+1, smp)
		tr.silent = append(tr.silent, smp)
	}
	if err := nftIn(b.n.TargetNS, "delete table inet benchcmp_silent\n"); err != nil {
		return nil, err
	}
	// The delay paths, together and one by one.
	var files []string
	var all []string
	for i, d := range delayPaths {
		dp, err := b.n.AddDelayPath(d.prefix, d.delay, d.jitter)
		if err != nil {
			return nil, err
		}
		defer dp.Close()
		f := filepath.Join(b.dir, fmt.Sprintf("delay%d.txt", i))
		text := prefixLines(d.prefix)
		if err := os.WriteFile(f, []byte(text), 0o644); err != nil {
			return nil, err
		}
		files = append(files, f)
		all = append(all, text)
	}
	mixed := filepath.Join(b.dir, "mixed.txt")
	if err := os.WriteFile(mixed, []byte(strings.Join(all, "")), 0o644); err != nil {
		return nil, err
	}
	tr.alone = make([][]sample, len(files))
	for run := range b.c.runs {
		smp := b.timed(timAdaptive, mixed, netip.Prefix{}, empty)
		fmt.Fprintf(os.Stderr, "timing mixed delays run %d %s\n", run+1, smp)
		tr.mixed = append(tr.mixed, smp)
		for i, f := range files {
			smp := b.timed(timAdaptive, f, delayPaths[i].prefix, empty)
			fmt.Fprintf(os.Stderr, "timing delay %v alone run %d %s\n", delayPaths[i].delay, run+1, smp)
			tr.alone[i] = append(tr.alone[i], smp)
		}
	}
	for _, d := range delayPaths {
		tr.delays = append(tr.delays, d.delay)
	}
	tr.zmapVer = toolVersion("zmap", "--version")
	return tr, nil
}

// timed runs system s on the targets of file (all of prefix p, for zmap)
// and returns the whole process's time and the open ports found.
func (b *bencher) timed(s, file string, p netip.Prefix, emptyBlocklist string) sample {
	ctx, cancel := context.WithTimeout(context.Background(), b.c.runTimeout)
	defer cancel()
	lines, err := os.ReadFile(file)
	if err != nil {
		return sample{err: err.Error()}
	}
	smp := sample{probes: bytes.Count(lines, []byte("\n"))}
	out := filepath.Join(b.dir, s+".timing.out")
	os.Remove(out)
	port := strconv.Itoa(record.OpenPort)
	var cmd *exec.Cmd
	switch s {
	case timAdaptive, timFixed3:
		attempts := "0"
		if s == timFixed3 {
			attempts = "3"
		}
		cmd = b.n.ProberCmd(ctx, b.exe, "-worker", sysRawcheck, "-worker-targets", file, "-worker-port", port,
			"-worker-attempts", attempts, "-run-timeout", b.c.runTimeout.String())
	case timNmap:
		cmd = b.n.ProberCmd(ctx, "nmap", "-sS", "-Pn", "-n", "-T5", "--min-hostgroup", "4096", "-p", port,
			"-iL", file, "-e", b.n.ProberLink, "-oG", out)
	case timZmap:
		if !p.IsValid() {
			return sample{err: "zmap needs a prefix"}
		}
		cmd = b.n.ProberCmd(ctx, "zmap", "-q", "-p", port, "-P", "3", "-c", "1", "-r", "1000000",
			"-i", b.n.ProberLink, "-G", b.routerMAC, "-S", b.n.ProberAddr4.String(),
			"-b", emptyBlocklist, "--disable-syslog", "-o", out, p.String())
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = 5 * time.Second
	start := time.Now()
	err = cmd.Run()
	smp.secs = time.Since(start).Seconds()
	if err != nil {
		smp.err = fmt.Sprint(err, " ", lastLine(stderr.String()))
		return smp
	}
	switch s {
	case timAdaptive, timFixed3:
		smp.found, _, err = workerFound(stdout.Bytes())
	case timNmap:
		smp.found, err = countUnique(out, nmapOpen)
	case timZmap:
		smp.found, err = countUnique(out, zmapOpen)
	}
	if err != nil {
		smp.err = err.Error()
	}
	if smp.secs > 0 {
		smp.rate = float64(smp.probes) / smp.secs
	}
	return smp
}

// prefixLines returns every address of p, one per line.
func prefixLines(p netip.Prefix) string {
	var b strings.Builder
	for a := p.Masked().Addr(); p.Contains(a); a = a.Next() {
		b.WriteString(a.String() + "\n")
	}
	return b.String()
}

// writePrefix writes every address of p, one per line.
func writePrefix(path string, p netip.Prefix) error {
	return os.WriteFile(path, []byte(prefixLines(p)), 0o644)
}

// haveTool reports whether name is installed.
func haveTool(name string) bool {
	_, err := exec.LookPath(name)
	return err == nil
}

// toolVersion returns the first line of `name args...`, or "".
func toolVersion(name string, args ...string) string {
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil && len(out) == 0 {
		return ""
	}
	return strings.TrimSpace(strings.SplitN(string(out), "\n", 2)[0])
}

// nftIn runs nft -f with rules in namespace ns.
func nftIn(ns, rules string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ip", "netns", "exec", ns, "nft", "-f", "-")
	cmd.Stdin = strings.NewReader(rules)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("nft in %s: %v: %s", ns, err, bytes.TrimSpace(out))
	}
	return nil
}
