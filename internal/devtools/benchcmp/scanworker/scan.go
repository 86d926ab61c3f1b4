package main

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"runtime"
	"runtime/pprof"
	"time"

	"github.com/rawprobe/rawprobe/internal/devtools/benchcmp/workerreport"
	"github.com/rawprobe/rawprobe/rawcheck"
)

// scans are the scans by -scan name.
var scans = map[string]func(context.Context) (workerreport.Scan, error){
	"sendonly":  workSendOnly,
	"sweeponly": workSweepOnly,
	"bigscan":   workBigScan,
}

// memProfile is where -memprofile writes the heap profile.
var memProfile string

// writeMemProfile writes the heap profile to memProfile, if set.
func writeMemProfile() {
	if memProfile == "" {
		return
	}
	f, err := os.Create(memProfile)
	if err != nil {
		fmt.Fprintln(os.Stderr, "scanworker:", err)
		return
	}
	defer f.Close()
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		fmt.Fprintln(os.Stderr, "scanworker:", err)
	}
}

// sampleHeap records the peaks of r's heap fields every 20 ms until stop
// is closed, then closes done.
func sampleHeap(r *workerreport.Scan, stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	var ms runtime.MemStats
	for {
		runtime.ReadMemStats(&ms)
		r.PeakHeapInuse = max(r.PeakHeapInuse, ms.HeapInuse)
		r.PeakHeapAlloc = max(r.PeakHeapAlloc, ms.HeapAlloc)
		r.NumGC = ms.NumGC
		select {
		case <-stop:
			return
		case <-t.C:
		}
	}
}

// workSendOnly scans blackholed × 16 ports once (one attempt each) and
// reports how long the sending took.
func workSendOnly(ctx context.Context) (workerreport.Scan, error) {
	ports := make([]uint16, 16)
	for i := range ports {
		ports[i] = uint16(80 + i)
	}
	return workScan(ctx, workerreport.Blackholed, ports, rawcheck.Config{Attempts: 1, Timeout: 200 * time.Millisecond, Window: 1 << 18}, false)
}

// workSweepOnly is workSendOnly with rawcheck's Sweep, which keeps nothing
// per target and reports only the targets that answer.
func workSweepOnly(ctx context.Context) (workerreport.Scan, error) {
	ports := make([]uint16, 16)
	for i := range ports {
		ports[i] = uint16(80 + i)
	}
	return workScan(ctx, workerreport.Blackholed, ports, rawcheck.Config{Timeout: 200 * time.Millisecond, Window: 1 << 18}, true)
}

// workBigScan scans the answering /16 × 256 ports with the defaults.
func workBigScan(ctx context.Context) (workerreport.Scan, error) {
	ports := make([]uint16, 256)
	for i := range ports {
		ports[i] = uint16(1000 + i)
	}
	return workScan(ctx, netip.MustParsePrefix("198.18.0.0/16"), ports, rawcheck.Config{}, false)
}

// workScan scans every address of p × ports (port-major: every address on
// the first port, then on the next) and checks that each target got exactly
// one result; with sweep, by Sweep, which reports only the targets that
// answer, and checks that none got two.
func workScan(ctx context.Context, p netip.Prefix, ports []uint16, cfg rawcheck.Config, sweep bool) (workerreport.Scan, error) {
	addrs := 1 << (32 - p.Bits())
	total := addrs * len(ports)
	r := workerreport.Scan{Probes: total}
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
		for _, port := range ports {
			for a := range addrs {
				v := first + uint32(a)
				if !yield(netip.AddrPortFrom(netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}), port)) {
					return
				}
			}
		}
	}
	// The ports are consecutive, so a target's row is its port's offset
	// (a map lookup per result would put the worker's own cost into the
	// CPU measured for rawcheck).
	for i, port := range ports {
		if port != ports[0]+uint16(i) {
			return r, fmt.Errorf("ports %v are not consecutive", ports)
		}
	}
	stopSampling, sampled := make(chan struct{}), make(chan struct{})
	go sampleHeap(&r, stopSampling, sampled)
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
				// Every SYN handed to the kernel, sent or refused
				// (a refused one is not sent again: one attempt).
				if st := pr.Stats(); st.Sent+st.SendErrors >= uint64(total) {
					sent <- time.Since(start)
					writeMemProfile()
					return
				}
			}
		}
	}()
	scan := pr.Scan
	if sweep {
		scan = pr.Sweep
	}
	err = scan(ctx, targets, func(res rawcheck.Result) {
		a := res.Target.Addr().As4()
		v := uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3])
		i := int(res.Target.Port()-ports[0])*addrs + int(v-first)
		if seen[i/64]&(1<<(i%64)) != 0 {
			dup = true
		}
		seen[i/64] |= 1 << (i % 64)
		r.Results++
	})
	r.Secs = time.Since(start).Seconds()
	st := pr.Stats()
	r.SendErrors, r.RateBackoffs = st.SendErrors, st.RateBackoffs
	r.RingDrops, r.Retransmits = st.RingDrops, st.Retransmitted
	close(done)
	r.SendSecs = (<-sent).Seconds()
	close(stopSampling)
	<-sampled
	r.Once = !dup && (sweep || r.Results == total)
	var rssErr error
	r.PeakRSSKB, rssErr = workerreport.PeakRSSKB()
	return r, errors.Join(err, rssErr)
}
