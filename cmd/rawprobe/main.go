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
// 1 any not open, 2 bad input (nothing sent), 3 runtime error.
package main

import (
	"context"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
)

// gcPercent is the command's garbage collection target (GOGC) unless the
// environment sets one: a scan's live heap is small (the pending table and
// result buffers) and the raw engine allocates nothing per SYN, so
// collecting at half Go's default headroom costs a few collections more
// per scan and lowers the peak RSS of big scans. The rawcheck library
// leaves the process's GC settings alone.
const gcPercent = 50

func main() {
	if _, set := os.LookupEnv("GOGC"); !set {
		debug.SetGCPercent(gcPercent)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], defaultEnv())
	stop()
	os.Exit(code)
}
