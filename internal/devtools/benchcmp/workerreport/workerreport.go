// Package workerreport is what benchcmp's worker programs report: the
// result of a send-only or 16.7 M-target scan, as JSON, and the worker's
// own peak resident memory.
//
// A worker measures its peak RSS itself because its parent cannot: Go
// starts a child with vfork, and when a vforked child execs, Linux records
// the parent's peak RSS as the child's (the memory it shared until then),
// so wait4's ru_maxrss of any child Go starts is at least the Go parent's
// own peak.
package workerreport

import (
	"bufio"
	"bytes"
	"fmt"
	"net/netip"
	"os"
	"strconv"
)

// Blackholed is the prefix of the send-only comparison: routed from the
// prober to the target, which neither owns nor forwards it, so every SYN
// is dropped there and no reply comes back.
var Blackholed = netip.MustParsePrefix("198.19.128.0/17")

// Scan is what scanworker prints for one scan.
type Scan struct {
	Probes   int     `json:"probes"`
	SendSecs float64 `json:"send_seconds"` // first SYN to last SYN handed to the kernel
	Secs     float64 `json:"seconds"`      // the whole Scan
	Once     bool    `json:"exactly_once"` // every target had exactly one result
	Results  int     `json:"results"`
	// What the Go heap took, sampled every 20 ms: the peak of the heap's
	// spans in use, of the live and not yet collected objects, and the
	// number of collections.
	PeakHeapInuse uint64 `json:"peak_heap_inuse"`
	PeakHeapAlloc uint64 `json:"peak_heap_alloc"`
	NumGC         uint32 `json:"num_gc"`
	// The engine's own losses: SYNs the kernel refused, the times it
	// slowed down, replies a full ring dropped, and its retransmissions
	// (rawcheck.Stats).
	SendErrors   uint64 `json:"send_errors"`
	RateBackoffs uint64 `json:"rate_backoffs"`
	RingDrops    uint64 `json:"ring_drops"`
	Retransmits  uint64 `json:"retransmitted"`
	// PeakRSSKB is the worker's peak resident set size (PeakRSSKB).
	PeakRSSKB int64 `json:"peak_rss_kb"`
}

// PeakRSSKB returns this process's peak resident set size in KiB: VmHWM
// of /proc/self/status, the high-water mark of its own memory since it
// started (or last exec'd).
func PeakRSSKB() (int64, error) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, err
	}
	return parseVmHWM(b)
}

// parseVmHWM returns the VmHWM of a /proc/PID/status text, in KiB.
func parseVmHWM(status []byte) (int64, error) {
	sc := bufio.NewScanner(bytes.NewReader(status))
	for sc.Scan() {
		name, value, ok := bytes.Cut(sc.Bytes(), []byte(":"))
		if !ok || string(name) != "VmHWM" {
			continue
		}
		num, unit, _ := bytes.Cut(bytes.TrimSpace(value), []byte(" "))
		if string(unit) != "kB" {
			return 0, fmt.Errorf("VmHWM %q: want a size in kB", value)
		}
		return strconv.ParseInt(string(num), 10, 64)
	}
	return 0, fmt.Errorf("no VmHWM line in the process status")
}
