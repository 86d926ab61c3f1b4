// Command scanworker is benchcmp's worker for -send-only and -big: one
// rawcheck Scan, its result printed as JSON. It is a program of its own,
// linking rawcheck and nothing of the verification harness, so that the
// peak RSS benchcmp measures is rawcheck's and the Go runtime's alone.
//
// Usage (inside the test network's prober namespace, as benchcmp runs it):
//
//	scanworker -scan sendonly|bigscan [-timeout 30m]
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"time"
)

func main() {
	scan := flag.String("scan", "", "the scan: sendonly (blackholed × 16 ports, one attempt) or bigscan (the answering /16 × 256 ports)")
	timeout := flag.Duration("timeout", 30*time.Minute, "bound on the scan")
	flag.Parse()
	if err := run(*scan, *timeout); err != nil {
		fmt.Fprintln(os.Stderr, "scanworker:", err)
		os.Exit(1)
	}
}

func run(scan string, timeout time.Duration) error {
	if flag.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", flag.Args())
	}
	if timeout <= 0 {
		return fmt.Errorf("-timeout %v: want a positive duration", timeout)
	}
	work, ok := scans[scan]
	if !ok {
		return fmt.Errorf("-scan %q: want sendonly or bigscan", scan)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	r, err := work(ctx)
	if err != nil {
		return err
	}
	return json.NewEncoder(os.Stdout).Encode(r)
}
