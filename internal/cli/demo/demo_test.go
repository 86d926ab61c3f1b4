package demo

import (
	"bytes"
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/rawprobe/rawprobe/internal/verify/pcapcheck"
	"github.com/rawprobe/rawprobe/rawcheck"
)

// goodObservation is a passing namespace run, with a target the prober
// has no route to besides the four the demo probes.
func goodObservation() *observation {
	ap := netip.MustParseAddrPort
	return &observation{
		Mode:     "test",
		Captured: true,
		Report:   &pcapcheck.Report{},
		Outcomes: []outcome{
			{Target{"open", ap("198.18.0.1:80"), rawcheck.Open}, rawcheck.Result{State: rawcheck.Open}, nil,
				&pcapcheck.Flow{SYNs: 1, Reply: pcapcheck.SYNACK, ProberRSTs: 1}},
			{Target{"closed", ap("198.18.0.1:81"), rawcheck.Closed}, rawcheck.Result{State: rawcheck.Closed}, nil,
				&pcapcheck.Flow{SYNs: 1, Reply: pcapcheck.RST}},
			{Target{"silent", ap("198.19.0.1:80"), rawcheck.Timeout}, rawcheck.Result{State: rawcheck.Timeout, Attempts: 2}, nil,
				&pcapcheck.Flow{SYNs: 2}},
			{Target{"unreachable", ap("203.0.113.1:80"), rawcheck.Unreachable}, rawcheck.Result{State: rawcheck.Unreachable}, nil,
				&pcapcheck.Flow{SYNs: 1, Reply: pcapcheck.ICMP, ICMPType: 3, ICMPCode: 1}},
			{Target{"noroute", ap("192.0.2.1:80"), rawcheck.NoRoute}, rawcheck.Result{Target: ap("192.0.2.1:80"), State: rawcheck.NoRoute}, nil, nil},
		},
	}
}

func TestVerdict(t *testing.T) {
	var out bytes.Buffer
	if passed := goodObservation().print(&out); !passed || !strings.Contains(out.String(), "verdict: PASS") {
		t.Fatalf("good run: passed %v\n%s", passed, out.String())
	}
	for _, want := range []string{"SYN → SYN-ACK → RST", "SYN → RST (from target)", "SYN ×2 → no reply", "SYN → ICMP unreachable type 3 code 1",
		"noroute      192.0.2.1:80           noroute      nothing sent    no SYN (no route from the prober)"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	// Negative controls: each fault alone turns the verdict to FAIL.
	for name, breakIt := range map[string]func(*observation){
		"wrong state":      func(o *observation) { o.Outcomes[1].Result.State = rawcheck.Open },
		"probe error":      func(o *observation) { o.Outcomes[2].Err = errors.New("no route") },
		"ACK sent":         func(o *observation) { o.Outcomes[0].Flow.ProberACKs = 1 },
		"two RSTs":         func(o *observation) { o.Outcomes[0].Flow.ProberRSTs = 2 },
		"no RST":           func(o *observation) { o.Outcomes[0].Flow.ProberRSTs = 0 },
		"not captured":     func(o *observation) { o.Outcomes[3].Flow = nil },
		"noroute but sent": func(o *observation) { o.Outcomes[4].Flow = &pcapcheck.Flow{SYNs: 1} },
		"noroute expected": func(o *observation) { o.Outcomes[4].Result.State = rawcheck.Unreachable },
		"accepted":         func(o *observation) { o.Accepted = 1 },
		"report violation": func(o *observation) { o.Report.Violations = []pcapcheck.Violation{{What: "stray segment"}} },
	} {
		o := goodObservation()
		breakIt(o)
		out.Reset()
		if passed := o.print(&out); passed || !strings.Contains(out.String(), "verdict: FAIL") {
			t.Errorf("%s: passed %v\n%s", name, passed, out.String())
		}
	}
}

func TestLoopback(t *testing.T) {
	obs, err := runLoopback(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if passed := obs.print(&out); !passed {
		t.Errorf("not passed\n%s", out.String())
	}
	if len(obs.Outcomes) != 2 || obs.Captured || !strings.Contains(out.String(), "no packet capture") {
		t.Errorf("loopback run:\n%s", out.String())
	}
}
