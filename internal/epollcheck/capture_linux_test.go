package epollcheck

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/rawprobe/rawprobe/internal/verify/pcapcheck"
	"github.com/rawprobe/rawprobe/internal/verify/testnet"
)

// benchCapture is the pcap proof around a benchmark run: every frame on
// the prober's link, analysed per flow by pcapcheck.
type benchCapture struct {
	c *pcapcheck.Capture
}

func startBenchCapture(b testing.TB, n *testnet.Net) *benchCapture {
	return &benchCapture{pcapcheck.Start(b, n.ProberLink, n.InProber)}
}

// report stops the capture, reports the prober's ACK-only segments and the
// SYN-ACK->RST gap, and with strict (the engine) fails b on any violation.
func (bc *benchCapture) report(b *testing.B, strict bool, metric func(float64, string)) {
	rep := bc.c.Analyze()
	metric(float64(rep.ACKOnlySegments), "ack-segments")
	metric(float64(rep.Gap.P50.Microseconds()), "gap-p50-µs")
	metric(float64(rep.Gap.P99.Microseconds()), "gap-p99-µs")
	b.Logf("pcap: %d frames (%d dropped), %d SYN-ACK flows, %d ACK-only segments; %v",
		rep.Packets, rep.Dropped, rep.SYNACKFlows, rep.ACKOnlySegments, rep.Gap)
	reset, err := judgeCapture(rep)
	metric(float64(reset), "target-reset-flows")
	if strict && err != nil {
		b.Errorf("pcap proof: %v", err)
	}
}

// judgeCapture applies pcapcheck's rules, tolerating only what the
// kernel's 4-tuple reuse race (see TestLoadPcap50k) leaves in a capture: a
// flow the target itself reset after its SYN-ACK, with no prober segment
// after the SYN, and, on the same 4-tuple, a prober RST of the previous
// flow captured after the new SYN ("2 RSTs"). Segments with ACK alone are
// never tolerated. It returns the number of target-reset flows.
func judgeCapture(rep *pcapcheck.Report) (targetReset int, err error) {
	raced := map[netip.AddrPort]bool{}
	for _, f := range rep.Flows {
		if f.SYNACKs > 0 && f.TargetRSTs > 0 && f.ProberRSTs == 0 && f.ProberACKs == 0 {
			targetReset++
			raced[f.Prober] = true
		}
	}
	other := 0
	for _, v := range rep.Violations {
		if !raced[v.Prober] || strings.Contains(v.What, "ACK alone") {
			other++
		}
	}
	if rep.Dropped != 0 || other != 0 || rep.ACKOnlySegments != 0 {
		return targetReset, fmt.Errorf("%v\n(%d of the violations are on 4-tuples the target itself reset)",
			rep.Err(), len(rep.Violations)-other)
	}
	return targetReset, nil
}
