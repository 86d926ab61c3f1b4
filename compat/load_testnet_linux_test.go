package compat

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rawprobe/rawprobe/internal/pcapcheck"
	"github.com/rawprobe/rawprobe/internal/testnet"
)

// TestLoadPcap50k is the pcap proof: 50,000 checks at concurrency 1,000
// against one open port in the test network. Every flow must be SYN,
// SYN-ACK, one RST from the prober and nothing else (no segment with ACK
// alone); the target's TCP must complete no handshake (Tcp.PassiveOpens
// unchanged) and its application accept nothing. It logs the SYN-ACK->RST
// gap p50/p99.
func TestLoadPcap50k(t *testing.T) {
	if testing.Short() {
		t.Skip("load test: runs in make test's second pass without -race")
	}
	const checks, conc = 50_000, 1_000
	if n, ok := testnet.Child(); ok {
		c := startedChecker(t)
		addr := at(nth(n.Answering4, 1), 80)
		var next, failed atomic.Int64
		var wg sync.WaitGroup
		start := time.Now()
		for range conc {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for next.Add(1) <= checks {
					if err := c.CheckAddr(addr, 5*time.Second); err != nil {
						if failed.Add(1) <= 3 {
							t.Errorf("check: %v", err)
						}
					}
				}
			}()
		}
		wg.Wait()
		el := time.Since(start)
		t.Logf("%d checks at concurrency %d in %v (%.0f checks/s), %d failed", checks, conc, el, checks/el.Seconds(), failed.Load())
		return
	}
	n := testnet.New(t)
	l := n.Listen(t, "tcp", ":80")
	before, err := n.TargetCounters()
	if err != nil {
		t.Fatal(err)
	}
	capture := pcapcheck.Start(t, n.ProberLink, n.InProber)
	n.RunInProber(t)
	rep := capture.Analyze()
	t.Logf("pcap: %d frames (%d dropped), %d flows, %d SYN-ACK flows, %d ACK-only segments; %v",
		rep.Packets, rep.Dropped, len(rep.Flows), rep.SYNACKFlows, rep.ACKOnlySegments, rep.Gap)
	if err := rep.Err(); err != nil {
		t.Error(err)
	}
	if rep.SYNACKFlows < checks || rep.ACKOnlySegments != 0 {
		t.Errorf("pcap: %d SYN-ACK flows (want >= %d), %d ACK-only segments (want 0)", rep.SYNACKFlows, checks, rep.ACKOnlySegments)
	}
	after, err := n.TargetCounters()
	if err != nil {
		t.Fatal(err)
	}
	if d := after["Tcp.PassiveOpens"] - before["Tcp.PassiveOpens"]; d != 0 || l.Accepted() != 0 {
		t.Errorf("target completed %d handshakes (Tcp.PassiveOpens) and accepted %d connections; want 0 and 0", d, l.Accepted())
	}
}
