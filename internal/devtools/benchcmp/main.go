// Command benchcmp is the side-by-side benchmark of `make bench`: as root
// it builds a private test network (internal/verify/netlab), and for the same
// targets in one run measures rawcheck's Scan, compat's (epoll) checks,
// net.Dialer connect+close, nmap -sS, masscan, and the path ceiling (an
// hping3 SYN flood to random addresses of the answering prefix, counting
// the SYN-ACKs the target sends), each at least three times, first without
// loss and then with 10% of the SYNs dropped in the target namespace. It
// writes the tables, the machine and the date to BENCHMARKS.md.
//
// Every probe goes to the test network's prefixes only: the tools run
// inside the prober namespace, which has routes to nothing else.
//
// Usage (as root):
//
//	go run ./internal/devtools/benchcmp [-targets 16384] [-runs 3] [-out BENCHMARKS.md]
//
// With -send-only it instead compares, run by run, the sending of
// rawprobe's Scan, rawprobe's Sweep and zmap (524,288 SYNs to a
// blackholed /17: CPU per SYN and SYNs per second) and prints the medians; -big adds the scan of 16.7 M targets
// (the answering /16 × 256 ports: probes per second, every target exactly
// once, peak RSS).
package main

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"time"
)

// config is what the flags set.
type config struct {
	out          string
	targets      int
	runs         int
	loss         float64
	systems      []string
	runTimeout   time.Duration
	floodFor     time.Duration
	concurrency  int
	nmapMinRate  int
	masscanRate  int
	install      bool
	workerSystem string
	workerFile   string
	workerPort   int
	workerSource string
	sendOnly     bool
	big          bool
	cpuProfile   string
	timing       bool
	// workerAttempts is the rawcheck worker's Config.Attempts (0: adaptive).
	workerAttempts int
}

// allSystems are the systems measured, in table order.
var allSystems = []string{sysRawcheck, sysCompat, sysDial, sysNmap, sysMasscan, sysHping}

const (
	sysRawcheck = "rawcheck"
	sysCompat   = "compat"
	sysDial     = "dial"
	sysNmap     = "nmap"
	sysMasscan  = "masscan"
	sysHping    = "hping3"
)

func main() {
	var c config
	var systems string
	flag.StringVar(&c.out, "out", "BENCHMARKS.md", "file the tables are written to")
	flag.IntVar(&c.targets, "targets", 16384, "number of targets (addresses of the answering prefix, port 80), 1 to 65000")
	flag.IntVar(&c.runs, "runs", 3, "runs per system and table (the median is reported), 3 to 21")
	flag.Float64Var(&c.loss, "loss", 0.10, "fraction of SYNs the target drops for the second table, 0 to 0.9")
	flag.StringVar(&systems, "systems", strings.Join(allSystems, ","), "comma-separated systems to measure")
	flag.DurationVar(&c.runTimeout, "run-timeout", time.Minute, "bound on one run of one system")
	flag.DurationVar(&c.floodFor, "flood", 3*time.Second, "duration of each hping3 flood")
	flag.IntVar(&c.concurrency, "concurrency", 512, "checks in flight for compat and net.Dialer")
	flag.IntVar(&c.nmapMinRate, "nmap-min-rate", 20000, "nmap --min-rate")
	flag.IntVar(&c.masscanRate, "masscan-rate", 100000, "masscan --rate")
	flag.BoolVar(&c.install, "install", true, "install nmap, masscan, hping3 and zmap with apt-get when missing (as root)")
	flag.StringVar(&c.workerSystem, "worker", "", "internal: run one system's probes (inside the prober namespace) and print the result")
	flag.StringVar(&c.workerFile, "worker-targets", "", "internal: file of target addresses, one per line")
	flag.IntVar(&c.workerPort, "worker-port", 80, "internal: target port")
	flag.StringVar(&c.workerSource, "worker-source", "", "internal: source address of the net.Dialer worker")
	flag.BoolVar(&c.sendOnly, "send-only", false, "compare rawprobe's and zmap's sending (524,288 SYNs to a blackholed /17) instead of the tables")
	flag.BoolVar(&c.big, "big", false, "with -send-only, also scan 16.7 M targets (the answering /16 × 256 ports)")
	flag.StringVar(&c.cpuProfile, "cpuprofile", "", "with -send-only, write a CPU profile of rawprobe's send-only runs to this file (the last run's)")
	flag.BoolVar(&c.timing, "timing", true, "also measure the adaptive-timing tables (whole /16, silent /17, mixed delays)")
	flag.IntVar(&c.workerAttempts, "worker-attempts", 0, "internal: Config.Attempts of the rawcheck worker (0 = adaptive)")
	flag.Parse()
	c.systems = strings.Split(systems, ",")
	if err := c.check(); err != nil {
		fmt.Fprintln(os.Stderr, "benchcmp:", err)
		os.Exit(2)
	}
	var err error
	switch {
	case c.workerSystem != "":
		err = worker(c)
	case c.sendOnly:
		err = sendOnly(c)
	default:
		err = bench(c)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchcmp:", err)
		os.Exit(1)
	}
}

// check validates the flags.
func (c *config) check() error {
	switch {
	case flag.NArg() > 0:
		return fmt.Errorf("unexpected arguments %q", flag.Args())
	case c.targets < 1 || c.targets > 65000:
		return fmt.Errorf("-targets %d: want 1 to 65000", c.targets)
	case c.runs < 3 || c.runs > 21:
		return fmt.Errorf("-runs %d: want 3 to 21 (the table reports a median of at least 3)", c.runs)
	case !(c.loss >= 0 && c.loss <= 0.9):
		return fmt.Errorf("-loss %v: want 0 to 0.9", c.loss)
	case c.runTimeout < time.Second || c.runTimeout > 30*time.Minute:
		return fmt.Errorf("-run-timeout %v: want 1s to 30m", c.runTimeout)
	case c.floodFor < 100*time.Millisecond || c.floodFor > time.Minute:
		return fmt.Errorf("-flood %v: want 100ms to 1m", c.floodFor)
	case c.concurrency < 1 || c.concurrency > 20000:
		return fmt.Errorf("-concurrency %d: want 1 to 20000", c.concurrency)
	case c.nmapMinRate < 1 || c.masscanRate < 1:
		return fmt.Errorf("-nmap-min-rate and -masscan-rate must be positive")
	}
	for _, s := range c.systems {
		known := false
		for _, a := range allSystems {
			known = known || s == a
		}
		if !known {
			return fmt.Errorf("-systems: unknown system %q (known: %s)", s, strings.Join(allSystems, ","))
		}
	}
	return nil
}
