// Command scanworker is benchcmp's worker for -send-only and -big: one
// rawcheck Scan, its result printed as JSON. It is a program of its own,
// linking rawcheck and nothing of the verification harness, so that the
// peak RSS benchcmp measures is rawcheck's and the Go runtime's alone.
//
// Usage (inside the test network's prober namespace, as benchcmp runs it):
//
//	scanworker -scan sendonly|sweeponly|bigscan [-timeout 30m] [-cpuprofile FILE] [-trace FILE] [-memprofile FILE]
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/pprof"
	"runtime/trace"
	"time"
)

func main() {
	scan := flag.String("scan", "", "the scan: sendonly (blackholed × 16 ports, one attempt), sweeponly (the same, by Sweep) or bigscan (the answering /16 × 256 ports)")
	timeout := flag.Duration("timeout", 30*time.Minute, "bound on the scan")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the scan to this file")
	traceFile := flag.String("trace", "", "write an execution trace of the scan to this file")
	flag.StringVar(&memProfile, "memprofile", "", "write a heap profile to this file when the last SYN is sent")
	flag.Parse()
	if err := run(*scan, *timeout, *cpuProfile, *traceFile); err != nil {
		fmt.Fprintln(os.Stderr, "scanworker:", err)
		os.Exit(1)
	}
}

func run(scan string, timeout time.Duration, cpuProfile, traceFile string) error {
	if flag.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", flag.Args())
	}
	if timeout <= 0 {
		return fmt.Errorf("-timeout %v: want a positive duration", timeout)
	}
	work, ok := scans[scan]
	if !ok {
		return fmt.Errorf("-scan %q: want sendonly, sweeponly or bigscan", scan)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	for _, rec := range []struct {
		file  string
		start func(io.Writer) error
		stop  func()
	}{{cpuProfile, pprof.StartCPUProfile, pprof.StopCPUProfile}, {traceFile, trace.Start, trace.Stop}} {
		if rec.file == "" {
			continue
		}
		f, err := os.Create(rec.file)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := rec.start(f); err != nil {
			return err
		}
		defer rec.stop()
	}
	r, err := work(ctx)
	if err != nil {
		return err
	}
	return json.NewEncoder(os.Stdout).Encode(r)
}
