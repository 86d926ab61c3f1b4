package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"syscall"
	"time"

	"github.com/rawprobe/rawprobe/internal/verify/golden/record"
	"github.com/rawprobe/rawprobe/rawcheck"
)

// blackholed is the prefix of the send-only comparison: routed from the
// prober to the target, which neither owns nor forwards it, so every SYN
// is dropped there and no reply comes back.
var blackholed = netip.MustParsePrefix("198.19.128.0/17")

// sendOnlyProbes is the number of SYNs of one send-only run: 16 per address
// of blackholed (zmap -P 16; rawprobe 16 ports).
const sendOnlyProbes = 32768 * 16

// sendOnlySample is one send-only run of one system.
type sendOnlySample struct {
	pps      float64 // SYNs per second of the sending phase
	cpuPerPk float64 // user+sys CPU of the whole process per SYN, in µs
	sysShare float64 // the system's (kernel's) share of that CPU
	ctxsw    float64 // context switches of the process per SYN (a thread woken to run Go's network poller is one)
	rssKB    int64
	err      string
}

// sendOnlyResult is what the send-only and full-scan workers print.
type sendOnlyResult struct {
	Probes   int     `json:"probes"`
	SendSecs float64 `json:"send_seconds"` // first SYN to last SYN handed to the kernel
	Secs     float64 `json:"seconds"`      // the whole Scan
	Once     bool    `json:"exactly_once"` // every target had exactly one result
	Results  int     `json:"results"`
}

// sendOnly compares rawprobe's and zmap's sending in the same network, run
// by run, and the 16.7 M-target scan, and prints the medians.
func sendOnly(c config) (err error) {
	if os.Geteuid() != 0 {
		return errors.New("needs root")
	}
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	n, _, remove, err := record.SetupNetwork()
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, remove()) }()
	if err := ipIn(n.ProberNS, "route", "add", blackholed.String(), "via", n.TargetAddr4.String(), "dev", n.ProberLink); err != nil {
		return err
	}
	if err := record.WaitReady(n, 10*time.Second); err != nil {
		return err
	}
	mac, err := targetMAC(n)
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "benchcmp-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	empty := filepath.Join(dir, "blocklist")
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		return err
	}
	run := func(cmd *exec.Cmd, worker bool) (sendOnlyResult, *syscall.Rusage, float64, error) {
		var out, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &stderr
		start := time.Now()
		err := cmd.Run()
		wall := time.Since(start).Seconds()
		var r sendOnlyResult
		var ru *syscall.Rusage
		if cmd.ProcessState != nil {
			ru, _ = cmd.ProcessState.SysUsage().(*syscall.Rusage)
		}
		if err != nil {
			return r, ru, wall, fmt.Errorf("%v: %s", err, lastLine(stderr.String()))
		}
		if worker {
			err = json.Unmarshal(out.Bytes(), &r)
		}
		return r, ru, wall, err
	}
	cpu := func(ru *syscall.Rusage) float64 {
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
	}
	sysShare := func(ru *syscall.Rusage) float64 {
		return float64(ru.Stime.Nano()) / float64(ru.Utime.Nano()+ru.Stime.Nano())
	}
	ctxsw := func(ru *syscall.Rusage) float64 { return float64(ru.Nvcsw + ru.Nivcsw) }
	var raw, zm []sendOnlySample
	for i := range c.runs {
		ctx, cancel := context.WithTimeout(context.Background(), c.runTimeout)
		r, ru, _, err := run(n.ProberCmd(ctx, exe, "-worker", sysSendOnly, "-run-timeout", c.runTimeout.String()), true)
		var s sendOnlySample
		if err != nil || ru == nil {
			s.err = fmt.Sprint("failed: ", err)
		} else {
			s = sendOnlySample{pps: float64(r.Probes) / r.SendSecs, cpuPerPk: cpu(ru) / float64(r.Probes) * 1e6, sysShare: sysShare(ru), ctxsw: ctxsw(ru) / float64(r.Probes), rssKB: ru.Maxrss}
		}
		raw = append(raw, s)
		fmt.Fprintf(os.Stderr, "send-only run %d rawprobe: %.0f pps, %.2f µs CPU/SYN (%.0f%% system), %.3f context switches/SYN %s\n", i+1, s.pps, s.cpuPerPk, 100*s.sysShare, s.ctxsw, s.err)
		// zmap 2.1.1 scans one port: 16 probes per address make the same
		// 524,288 SYNs. Its cooldown is 0 s, so its wall time is sending.
		_, ru, wall, err := run(n.ProberCmd(ctx, "zmap", "-q", "-p", "80", "-P", "16", "-r", "0", "-c", "0",
			"-i", n.ProberLink, "-G", mac, "-S", n.ProberAddr4.String(), "-b", empty, "-o", "/dev/null",
			blackholed.String()), false)
		s = sendOnlySample{}
		if err != nil || ru == nil {
			s.err = fmt.Sprint("failed: ", err)
		} else {
			s = sendOnlySample{pps: sendOnlyProbes / wall, cpuPerPk: cpu(ru) / sendOnlyProbes * 1e6, sysShare: sysShare(ru), ctxsw: ctxsw(ru) / sendOnlyProbes, rssKB: ru.Maxrss}
		}
		zm = append(zm, s)
		fmt.Fprintf(os.Stderr, "send-only run %d zmap:     %.0f pps, %.2f µs CPU/SYN (%.0f%% system), %.3f context switches/SYN %s\n", i+1, s.pps, s.cpuPerPk, 100*s.sysShare, s.ctxsw, s.err)
		cancel()
	}
	med := func(ss []sendOnlySample, f func(sendOnlySample) float64) float64 {
		var v []float64
		for _, s := range ss {
			if s.err == "" {
				v = append(v, f(s))
			}
		}
		if len(v) == 0 {
			return 0
		}
		sort.Float64s(v)
		return v[len(v)/2]
	}
	pps := func(s sendOnlySample) float64 { return s.pps }
	cpuf := func(s sendOnlySample) float64 { return s.cpuPerPk }
	fmt.Printf("| send only, 524,288 SYNs to a blackholed /17 | pps (median) | CPU µs/SYN (median) |\n| --- | --- | --- |\n")
	fmt.Printf("| rawprobe | %s | %.2f |\n| zmap 2.1.1 -P 16 | %s | %.2f |\n", thousands(med(raw, pps)), med(raw, cpuf), thousands(med(zm, pps)), med(zm, cpuf))
	fmt.Printf("ratio rawprobe/zmap: pps %.2f, CPU per SYN %.2f\n", med(raw, pps)/med(zm, pps), med(raw, cpuf)/med(zm, cpuf))
	if !c.big {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	r, ru, _, err := run(n.ProberCmd(ctx, exe, "-worker", sysBigScan, "-run-timeout", "30m"), true)
	if err != nil {
		return err
	}
	fmt.Printf("| 16.7 M targets (/16 × 256 ports) | %s probes/s | exactly once: %v (%d results) | peak RSS %.1f MB |\n",
		thousands(float64(r.Probes)/r.Secs), r.Once, r.Results, float64(ru.Maxrss)/1024)
	return nil
}

// workSendOnly scans blackholed × 16 ports once (one attempt each) and
// reports how long the sending took.
func workSendOnly(ctx context.Context) (sendOnlyResult, error) {
	ports := make([]uint16, 16)
	for i := range ports {
		ports[i] = uint16(80 + i)
	}
	return workScan(ctx, blackholed, ports, rawcheck.Config{Attempts: 1, Timeout: 200 * time.Millisecond, Window: 1 << 18})
}

// workBigScan scans the answering /16 × 256 ports with the defaults.
func workBigScan(ctx context.Context) (sendOnlyResult, error) {
	ports := make([]uint16, 256)
	for i := range ports {
		ports[i] = uint16(1000 + i)
	}
	return workScan(ctx, netip.MustParsePrefix("198.18.0.0/16"), ports, rawcheck.Config{})
}

// workScan scans every address of p × ports (address-major, ports
// interleaved) and checks that each target got exactly one result.
func workScan(ctx context.Context, p netip.Prefix, ports []uint16, cfg rawcheck.Config) (sendOnlyResult, error) {
	addrs := 1 << (32 - p.Bits())
	total := addrs * len(ports)
	r := sendOnlyResult{Probes: total}
	pr, err := rawcheck.New(cfg)
	if err != nil {
		return r, err
	}
	defer pr.Close()
	// Bit sets, so that the check adds little to the peak RSS measured.
	seen := make([]uint64, (total+63)/64)
	dup := false
	base := p.Addr().As4()
	first := uint32(base[0])<<24 | uint32(base[1])<<16 | uint32(base[2])<<8 | uint32(base[3])
	targets := func(yield func(netip.AddrPort) bool) {
		for pi, port := range ports {
			_ = pi
			for a := range addrs {
				v := first + uint32(a)
				if !yield(netip.AddrPortFrom(netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}), port)) {
					return
				}
			}
		}
	}
	portIdx := map[uint16]int{}
	for i, port := range ports {
		portIdx[port] = i
	}
	start := time.Now()
	done := make(chan struct{})
	sent := make(chan time.Duration, 1)
	go func() {
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				sent <- time.Since(start)
				return
			case <-t.C:
				if pr.Stats().Sent >= uint64(total) {
					sent <- time.Since(start)
					return
				}
			}
		}
	}()
	err = pr.Scan(ctx, targets, func(res rawcheck.Result) {
		a := res.Target.Addr().As4()
		v := uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3])
		i := portIdx[res.Target.Port()]*addrs + int(v-first)
		if seen[i/64]&(1<<(i%64)) != 0 {
			dup = true
		}
		seen[i/64] |= 1 << (i % 64)
		r.Results++
	})
	r.Secs = time.Since(start).Seconds()
	close(done)
	r.SendSecs = (<-sent).Seconds()
	r.Once = !dup && r.Results == total
	return r, err
}
