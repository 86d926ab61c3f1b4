package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"syscall"
	"time"

	"github.com/rawprobe/rawprobe/internal/cli/engine"
	"github.com/rawprobe/rawprobe/internal/devtools/benchcmp/workerreport"
	"github.com/rawprobe/rawprobe/internal/verify/golden/record"
)

// sendOnlyProbes is the number of SYNs of one send-only run: 16 per address
// of workerreport.Blackholed (zmap -P 16; rawprobe 16 ports).
const sendOnlyProbes = 32768 * 16

// sendOnlySample is one send-only run of one system.
type sendOnlySample struct {
	pps      float64 // SYNs per second of the sending phase
	cpuPerPk float64 // user+sys CPU of the whole process per SYN, in µs
	sysShare float64 // the system's (kernel's) share of that CPU
	ctxsw    float64 // context switches of the process per SYN (a thread woken to run Go's network poller is one)
	rssKB    int64   // the worker's own peak (zmap's is not measured)
	err      string
}

// sendOnly compares rawprobe's and zmap's sending in the same network, run
// by run, and the 16.7 M-target scan, and prints the medians.
func sendOnly(c config) (err error) {
	if os.Geteuid() != 0 {
		return errors.New("needs root")
	}
	if c.install {
		installTools()
	}
	n, _, remove, err := record.SetupNetwork()
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, remove()) }()
	if err := ipIn(n.ProberNS, "route", "add", workerreport.Blackholed.String(), "via", n.TargetAddr4.String(), "dev", n.ProberLink); err != nil {
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
	// The scans run in scanworker, a program that links rawcheck and not
	// this one's verification harness, so that its peak RSS is rawcheck's.
	scanWorker := filepath.Join(dir, "scanworker")
	if out, err := exec.Command("go", "build", "-o", scanWorker, "github.com/rawprobe/rawprobe/internal/devtools/benchcmp/scanworker").CombinedOutput(); err != nil {
		return fmt.Errorf("building scanworker: %v: %s", err, out)
	}
	empty := filepath.Join(dir, "blocklist")
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		return err
	}
	// run runs the command that start makes, bounded by timeout.
	run := func(timeout time.Duration, worker bool, start func(context.Context) *exec.Cmd) (workerreport.Scan, *syscall.Rusage, float64, error) {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		cmd := start(ctx)
		var out, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &stderr
		began := time.Now()
		err := cmd.Run()
		wall := time.Since(began).Seconds()
		var r workerreport.Scan
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
	// worker runs scanworker's send-only scan of one kind once.
	worker := func(scan string) (sendOnlySample, workerreport.Scan) {
		r, ru, _, err := run(c.runTimeout, true, func(ctx context.Context) *exec.Cmd {
			args := []string{"-scan", scan, "-timeout", c.runTimeout.String()}
			if c.cpuProfile != "" && scan == "sendonly" {
				args = append(args, "-cpuprofile", c.cpuProfile)
			}
			return n.ProberCmd(ctx, scanWorker, args...)
		})
		if err != nil || ru == nil {
			return sendOnlySample{err: fmt.Sprint("failed: ", err)}, r
		}
		if !r.Once {
			return sendOnlySample{err: fmt.Sprintf("failed: a target had more than one result (%d results)", r.Results)}, r
		}
		return sendOnlySample{pps: float64(r.Probes) / r.SendSecs, cpuPerPk: cpu(ru) / float64(r.Probes) * 1e6, sysShare: sysShare(ru), ctxsw: ctxsw(ru) / float64(r.Probes), rssKB: r.PeakRSSKB}, r
	}
	var raw, sweep, zm []sendOnlySample
	for i := range c.runs {
		s, r := worker("sendonly")
		raw = append(raw, s)
		fmt.Fprintf(os.Stderr, "send-only run %d rawprobe Scan:  %.0f pps, %.2f µs CPU/SYN (%.0f%% system), %.3f context switches/SYN, %d SYNs refused, %d backoffs %s\n", i+1, s.pps, s.cpuPerPk, 100*s.sysShare, s.ctxsw, r.SendErrors, r.RateBackoffs, s.err)
		s, r = worker("sweeponly")
		sweep = append(sweep, s)
		fmt.Fprintf(os.Stderr, "send-only run %d rawprobe Sweep: %.0f pps, %.2f µs CPU/SYN (%.0f%% system), %.3f context switches/SYN, %d SYNs refused, %d backoffs %s\n", i+1, s.pps, s.cpuPerPk, 100*s.sysShare, s.ctxsw, r.SendErrors, r.RateBackoffs, s.err)
		// zmap 2.1.1 scans one port: 16 probes per address make the same
		// 524,288 SYNs. Its cooldown is 0 s, so its wall time is sending.
		_, ru, wall, err := run(c.runTimeout, false, func(ctx context.Context) *exec.Cmd {
			return n.ProberCmd(ctx, "zmap", "-q", "-p", "80", "-P", "16", "-r", "0", "-c", "0",
				"-i", n.ProberLink, "-G", mac, "-S", n.ProberAddr4.String(), "-b", empty, "-o", "/dev/null",
				workerreport.Blackholed.String())
		})
		s = sendOnlySample{}
		if err != nil || ru == nil {
			s.err = fmt.Sprint("failed: ", err)
		} else {
			s = sendOnlySample{pps: sendOnlyProbes / wall, cpuPerPk: cpu(ru) / sendOnlyProbes * 1e6, sysShare: sysShare(ru), ctxsw: ctxsw(ru) / sendOnlyProbes}
		}
		zm = append(zm, s)
		fmt.Fprintf(os.Stderr, "send-only run %d zmap:           %.0f pps, %.2f µs CPU/SYN (%.0f%% system), %.3f context switches/SYN %s\n", i+1, s.pps, s.cpuPerPk, 100*s.sysShare, s.ctxsw, s.err)
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
	fmt.Printf("| rawprobe Scan (a Result per target, Timeout included) | %s | %.2f |\n", thousands(med(raw, pps)), med(raw, cpuf))
	fmt.Printf("| rawprobe Sweep (the targets that answer, as zmap) | %s | %.2f |\n", thousands(med(sweep, pps)), med(sweep, cpuf))
	fmt.Printf("| zmap 2.1.1 -P 16 | %s | %.2f |\n", thousands(med(zm, pps)), med(zm, cpuf))
	fmt.Printf("\nRatios to zmap: Scan pps %.2f, CPU per SYN %.2f; Sweep pps %.2f, CPU per SYN %.2f.\n",
		med(raw, pps)/med(zm, pps), med(raw, cpuf)/med(zm, cpuf), med(sweep, pps)/med(zm, pps), med(sweep, cpuf)/med(zm, cpuf))
	if !c.big {
		return nil
	}
	// The big scan runs -runs times too; its median peak RSS is reported.
	var rates, rss []float64
	for i := range c.runs {
		// engine.GCPercent is what cmd/rawprobe sets when the environment
		// sets none, so the peak RSS is the command's, not a library
		// default's.
		r, _, _, err := run(30*time.Minute, true, func(ctx context.Context) *exec.Cmd {
			cmd := n.ProberCmd(ctx, scanWorker, "-scan", "bigscan", "-timeout", "30m")
			cmd.Env = append(os.Environ(), fmt.Sprintf("GOGC=%d", engine.GCPercent))
			return cmd
		})
		if err != nil {
			return err
		}
		if !r.Once {
			return fmt.Errorf("16.7 M targets, run %d: not every target had exactly one result (%d results)", i+1, r.Results)
		}
		rates = append(rates, float64(r.Probes)/r.Secs)
		rss = append(rss, float64(r.PeakRSSKB)/1024)
		fmt.Fprintf(os.Stderr, "16.7 M targets, run %d: %.0f probes/s, peak RSS %.1f MiB (Go heap: peak in use %.1f MiB, peak allocated %.1f MiB, %d GCs); %d ring drops, %d retransmissions, %d backoffs\n",
			i+1, rates[i], rss[i], float64(r.PeakHeapInuse)/(1<<20), float64(r.PeakHeapAlloc)/(1<<20), r.NumGC, r.RingDrops, r.Retransmits, r.RateBackoffs)
	}
	sort.Float64s(rates)
	sort.Float64s(rss)
	fmt.Printf("\n| scan of 16.7 M targets (/16 × 256 ports), median of %d runs | probes/s | every target | peak RSS |\n| --- | --- | --- | --- |\n", c.runs)
	fmt.Printf("| rawcheck (scanworker, GOGC=%d as the command sets it) | %s | exactly once | %.1f MiB |\n", engine.GCPercent,
		thousands(rates[len(rates)/2]), rss[len(rss)/2])
	return nil
}
