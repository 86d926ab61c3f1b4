package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rawprobe/rawprobe/compat"
	"github.com/rawprobe/rawprobe/internal/devtools/benchcmp/workerreport"
	"github.com/rawprobe/rawprobe/rawcheck"
)

// checkTimeout bounds one compat or net.Dialer check: the kernel sends the
// SYN at 0, 1 and 3 s, three attempts like rawcheck's default.
const checkTimeout = 3500 * time.Millisecond

// workerResult is what a worker prints, as JSON, on its standard output.
type workerResult struct {
	Probes    int     `json:"probes"`
	Found     int     `json:"found"`
	Errors    int     `json:"errors"`
	Secs      float64 `json:"seconds"`     // probing only, without start-up
	PeakRSSKB int64   `json:"peak_rss_kb"` // the worker's own (workerreport.PeakRSSKB)
}

// workerFound returns the open ports of a worker's output and the
// worker's peak RSS in KiB.
func workerFound(out []byte) (int, int64, error) {
	var wr workerResult
	if err := json.Unmarshal(out, &wr); err != nil {
		return 0, 0, fmt.Errorf("worker output %q: %v", out, err)
	}
	return wr.Found, wr.PeakRSSKB, nil
}

// worker probes every target of c.workerFile with one Go system, from the
// namespace it was started in, and prints a workerResult.
func worker(c config) error {
	targets, err := readTargets(c.workerFile, uint16(c.workerPort))
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.runTimeout)
	defer cancel()
	var r workerResult
	start := time.Now()
	switch c.workerSystem {
	case sysRawcheck:
		r, err = workRawcheck(ctx, targets, c.workerAttempts)
	case sysCompat:
		r, err = workCompat(ctx, targets, c.concurrency)
	case sysDial:
		var src netip.Addr
		if c.workerSource != "" {
			if src, err = netip.ParseAddr(c.workerSource); err != nil {
				return fmt.Errorf("-worker-source: %w", err)
			}
		}
		r, err = workDial(ctx, targets, c.concurrency, src)
	default:
		return fmt.Errorf("-worker %q: want rawcheck, compat or dial", c.workerSystem)
	}
	if err != nil {
		return err
	}
	r.Probes, r.Secs = len(targets), time.Since(start).Seconds()
	if r.PeakRSSKB, err = workerreport.PeakRSSKB(); err != nil {
		return err
	}
	return json.NewEncoder(os.Stdout).Encode(r)
}

// readTargets reads one address per line.
func readTargets(path string, port uint16) ([]netip.AddrPort, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []netip.AddrPort
	s := bufio.NewScanner(f)
	for s.Scan() {
		line := strings.TrimSpace(s.Text())
		if line == "" {
			continue
		}
		a, err := netip.ParseAddr(line)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		out = append(out, netip.AddrPortFrom(a, port))
	}
	return out, s.Err()
}

// workRawcheck scans the targets with rawcheck, attempts per silent target
// (0: adaptive).
func workRawcheck(ctx context.Context, targets []netip.AddrPort, attempts int) (workerResult, error) {
	var r workerResult
	p, err := rawcheck.New(rawcheck.Config{Attempts: attempts})
	if err != nil {
		return r, err
	}
	defer p.Close()
	err = p.Scan(ctx, slices.Values(targets), func(res rawcheck.Result) {
		if res.State == rawcheck.Open {
			r.Found++
		}
	})
	return r, err
}

// parallel runs check on every target with n goroutines and counts the
// targets for which it returns nil.
func parallel(ctx context.Context, targets []netip.AddrPort, n int, check func(string) error) workerResult {
	var next, found, errs atomic.Int64
	var wg sync.WaitGroup
	for range min(n, len(targets)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				i := next.Add(1) - 1
				if i >= int64(len(targets)) {
					return
				}
				if check(targets[i].String()) == nil {
					found.Add(1)
				} else {
					errs.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	return workerResult{Found: int(found.Load()), Errors: int(errs.Load())}
}

func workCompat(ctx context.Context, targets []netip.AddrPort, n int) (workerResult, error) {
	c := compat.NewChecker()
	lctx, stop := context.WithCancel(ctx)
	defer stop()
	loop := make(chan error, 1)
	go func() { loop <- c.CheckingLoop(lctx) }()
	select {
	case <-c.WaitReady():
	case err := <-loop:
		return workerResult{}, fmt.Errorf("compat: %w", err)
	}
	r := parallel(ctx, targets, n, func(addr string) error { return c.CheckAddr(addr, checkTimeout) })
	stop()
	<-loop
	return r, ctx.Err()
}

// workDial connects and closes, from src when it is valid.
func workDial(ctx context.Context, targets []netip.AddrPort, n int, src netip.Addr) (workerResult, error) {
	d := net.Dialer{Timeout: checkTimeout}
	if src.IsValid() {
		d.LocalAddr = net.TCPAddrFromAddrPort(netip.AddrPortFrom(src, 0))
	}
	r := parallel(ctx, targets, n, func(addr string) error {
		conn, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return err
		}
		return conn.Close()
	})
	return r, ctx.Err()
}
