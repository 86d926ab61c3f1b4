// Command rawprobe checks TCP ports without completing the handshake:
// SYN, then SYN-ACK (open), RST (closed), an ICMP unreachable or nothing,
// and a SYN-ACK is answered with RST, never with the final ACK.
//
// Usage:
//
//	rawprobe [flags] TARGET...          probe targets, print one line each
//	rawprobe --wait 60s TARGET...       probe until every target is open
//	rawprobe watch [flags] TARGET...    one record per up/down transition
//	rawprobe verify FILE                did a capture complete a handshake?
//	rawprobe serve --listen ADDR        Prometheus exporter (blackbox /probe)
//	rawprobe demo                       probe built-in local targets
//
// Run "rawprobe --help" for the flags. Exit status: 0 every target open,
// 1 any not open, 2 bad input (nothing sent), 3 runtime error, 130/143 a
// scan interrupted by SIGINT/SIGTERM (resumable with --resume).
package main

import (
	"context"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/rawprobe/rawprobe/internal/cli/engine"
)

func main() {
	if _, set := os.LookupEnv("GOGC"); !set {
		debug.SetGCPercent(engine.GCPercent)
	}
	signals := make(chan os.Signal, 2)
	signal.Notify(signals, os.Interrupt, syscall.SIGTERM)
	e := defaultEnv()
	e.signals = signals
	code := run(context.Background(), os.Args[1:], e)
	signal.Stop(signals)
	os.Exit(code)
}
