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
// SYN-ACK->RST gap, and with strict (the engine) fails b on any violation
// except the handshakes a delayed ACK completed, when the capture's count
// of them equals completed, the target's (see benchParent).
func (bc *benchCapture) report(b *testing.B, strict bool, completed uint64, metric func(float64, string)) {
	rep := bc.c.Analyze()
	metric(float64(rep.ACKOnlySegments), "ack-segments")
	metric(float64(rep.Gap.P50.Microseconds()), "gap-p50-µs")
	metric(float64(rep.Gap.P99.Microseconds()), "gap-p99-µs")
	b.Logf("pcap: %d frames (%d dropped), %d SYN-ACK flows, %d ACK-only segments; %v",
		rep.Packets, rep.Dropped, rep.SYNACKFlows, rep.ACKOnlySegments, rep.Gap)
	reset, err := judgeCapture(rep, int(completed))
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
// tolerated only on completed flows, and only when lateClose, the number
// of handshakes the target says were completed, equals their count: a
// benchmark passes the target's count, since a check closed after the
// delayed-ACK timer completes its handshake (see benchParent); a test
// passes 0. It returns the number of target-reset flows.
func judgeCapture(rep *pcapcheck.Report, lateClose int) (targetReset int, err error) {
	raced := map[netip.AddrPort]bool{}
	late := map[netip.AddrPort]bool{}
	for _, f := range rep.Flows {
		if f.SYNACKs > 0 && f.TargetRSTs > 0 && f.ProberRSTs == 0 && f.ProberACKs == 0 {
			targetReset++
			raced[f.Prober] = true
		}
		if f.Completed && f.ProberRSTs == 1 {
			late[f.Prober] = true
		}
	}
	lateACKs := 0
	if lateClose == 0 || len(late) != lateClose {
		late = nil
	} else {
		for _, f := range rep.Flows {
			if late[f.Prober] {
				lateACKs += f.ProberACKs
			}
		}
	}
	other := 0
	for _, v := range rep.Violations {
		switch {
		case late[v.Prober] && strings.Contains(v.What, "ACK alone"):
		case !raced[v.Prober] || strings.Contains(v.What, "ACK alone"):
			other++
		}
	}
	if rep.Dropped != 0 || other != 0 || rep.ACKOnlySegments != lateACKs {
		return targetReset, fmt.Errorf("%v\n(%d of the violations are on 4-tuples the target itself reset or completed after a late close)",
			rep.Err(), len(rep.Violations)-other)
	}
	return targetReset, nil
}
