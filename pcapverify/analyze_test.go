package pcapverify

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
)

// want is what a synthetic capture's report must show.
type want struct {
	flows, synack, rst, icmp, none, ackOnly int
	violation                               string // "" for none; else a substring of one violation
}

func check(t *testing.T, r *Report, w want) {
	t.Helper()
	got := want{len(r.Flows), r.SYNACKFlows, r.RSTFlows, r.ICMPFlows, r.NoReplyFlows, r.ACKOnlySegments, ""}
	w2 := w
	w2.violation = ""
	if got != w2 {
		t.Errorf("report %v\ngot  %+v\nwant %+v", r, got, w2)
	}
	switch {
	case w.violation == "" && r.Err() != nil:
		t.Errorf("correct capture flagged: %v", r.Err())
	case w.violation != "" && r.Err() == nil:
		t.Errorf("capture not flagged, want a violation %q", w.violation)
	case w.violation != "" && !slices.ContainsFunc(r.Violations, func(v Violation) bool { return strings.Contains(v.What, w.violation) }):
		t.Errorf("violations %v, want one containing %q", r.Violations, w.violation)
	}
}

func TestAnalyzeCorrectFlows(t *testing.T) {
	b := newPcap(t)
	b.tcp(prober4, target4, fSYN, 100, 0).wait(50*time.Microsecond).
		tcp(target4, prober4, fSYNACK, 900, 0).wait(120*time.Microsecond).
		tcp(prober4, target4, fRST, 101, 0)
	// IPv6, RST+ACK, a SYN retransmission, and the target retransmitting
	// its SYN-ACK: the gap runs from the SYN-ACK that the RST answered.
	b.tcp(prober6, target6, fSYN, 200, 0).wait(time.Second).
		tcp(prober6, target6, fSYN, 200, 0).wait(time.Millisecond).
		tcp(target6, prober6, fSYNACK, 901, 0).wait(time.Millisecond).
		tcp(target6, prober6, fSYNACK, 901, 0).wait(300*time.Microsecond).
		tcp(prober6, target6, fRSTACK, 201, 0)
	r := b.analyze()
	check(t, r, want{flows: 2, synack: 2})
	if r.Flows[1].SYNs != 2 || r.Flows[1].SYNACKs != 2 {
		t.Errorf("v6 flow %+v: want 2 SYNs and 2 SYN-ACKs", r.Flows[1])
	}
	if r.Gap.N != 2 || r.Gap.P50 != 120*time.Microsecond || r.Gap.Max != 300*time.Microsecond {
		t.Errorf("gap %v, want N 2, p50 120µs, max 300µs", r.Gap)
	}
	if r.Flows[0].Prober != prober4 || r.Flows[0].Target != target4 || r.Flows[0].ISN != 100 {
		t.Errorf("flow 0 = %+v", r.Flows[0])
	}
}

func TestAnalyzeRepliesOtherThanSYNACK(t *testing.T) {
	b := newPcap(t)
	closed := target4
	silent := netip4("198.19.0.1:80")
	unreach4 := netip4("203.0.113.1:80")
	unreach6 := netip4("[2001:db8:e::1]:80")
	b.tcp(prober4, closed, fSYN, 1, 0).tcp(closed, prober4, fRSTACK, 0, 0)
	b.tcp(prober4, silent, fSYN, 2, 0).wait(time.Second).tcp(prober4, silent, fSYN, 2, 0)
	b.tcp(prober4, unreach4, fSYN, 3, 0).icmp(unreach4.Addr(), prober4, unreach4)
	b.tcp(prober6, unreach6, fSYN, 4, 0).icmp(unreach6.Addr(), prober6, unreach6)
	r := b.analyze()
	check(t, r, want{flows: 4, rst: 1, none: 1, icmp: 2})
	if f := r.Flows[2]; f.Reply != ICMP || f.ICMPType != 3 || f.ICMPCode != 1 {
		t.Errorf("ICMP flow %+v", f)
	}
	if f := r.Flows[3]; f.Reply != ICMP || f.ICMPType != 1 || f.ICMPCode != 3 {
		t.Errorf("ICMPv6 flow %+v", f)
	}
	if r.Gap.N != 0 {
		t.Errorf("gap %v without any SYN-ACK", r.Gap)
	}
}

// The negative controls: each capture breaks one rule and must be flagged.
func TestAnalyzeViolations(t *testing.T) {
	for _, c := range []struct {
		name  string
		build func(b *pcapBuilder)
		want  want
	}{
		{"handshake completed (net.Dial then Close)", func(b *pcapBuilder) {
			b.tcp(prober4, target4, fSYN, 1, 0).tcp(target4, prober4, fSYNACK, 9, 0).
				tcp(prober4, target4, fACK, 2, 0).tcp(prober4, target4, fFINACK, 2, 0).
				tcp(target4, prober4, fFINACK, 10, 0).tcp(prober4, target4, fACK, 3, 0)
		}, want{flows: 1, synack: 1, ackOnly: 3, violation: "ACK alone"}},
		{"two RSTs", func(b *pcapBuilder) {
			b.tcp(prober4, target4, fSYN, 1, 0).tcp(target4, prober4, fSYNACK, 9, 0).
				tcp(prober4, target4, fRST, 2, 0).tcp(prober4, target4, fRST, 2, 0)
		}, want{flows: 1, synack: 1, violation: "2 RSTs"}},
		{"no RST after SYN-ACK", func(b *pcapBuilder) {
			b.tcp(prober6, target6, fSYN, 1, 0).tcp(target6, prober6, fSYNACK, 9, 0)
		}, want{flows: 1, synack: 1, violation: "no RST"}},
		{"RST carrying data", func(b *pcapBuilder) {
			b.tcp(prober4, target4, fSYN, 1, 0).tcp(target4, prober4, fSYNACK, 9, 0).
				tcp(prober4, target4, fRSTACK, 2, 10)
		}, want{flows: 1, synack: 1, ackOnly: 1, violation: "payload"}},
		{"RST before the SYN-ACK", func(b *pcapBuilder) {
			b.tcp(prober4, target4, fSYN, 1, 0).tcp(prober4, target4, fRST, 2, 0).
				tcp(target4, prober4, fSYNACK, 9, 0)
		}, want{flows: 1, synack: 1, violation: "before the SYN-ACK"}},
		{"segment of no captured SYN", func(b *pcapBuilder) {
			b.tcp(target4, prober4, fSYNACK, 9, 0)
		}, want{violation: "no captured handshake"}},
		{"ICMP quoting no captured SYN", func(b *pcapBuilder) {
			b.icmp(target4.Addr(), prober4, target4)
		}, want{violation: "quotes no captured SYN"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			b := newPcap(t)
			c.build(b)
			check(t, b.analyze(), c.want)
		})
	}
}

// A 4-tuple reused with a new ISN is a new handshake, judged on its own.
func TestAnalyzeReusedTuple(t *testing.T) {
	b := newPcap(t)
	for isn := uint32(1); isn <= 2; isn++ {
		b.tcp(prober4, target4, fSYN, isn*1000, 0).tcp(target4, prober4, fSYNACK, 9, 0).tcp(prober4, target4, fRST, isn*1000+1, 0)
	}
	check(t, b.analyze(), want{flows: 2, synack: 2})
}

// Payload is counted from the IP header, so a capture cut at the snap
// length still shows data the prober sent.
func TestAnalyzeTruncatedPayload(t *testing.T) {
	b := newPcap(t)
	b.tcp(prober4, target4, fSYN, 1, 0).tcp(target4, prober4, fSYNACK, 9, 0)
	frame := serialize(t, func() []gopacketLayer {
		ip, eth := b.ip(prober4.Addr(), target4.Addr(), layers.IPProtocolTCP)
		tcp := &layers.TCP{SrcPort: layers.TCPPort(prober4.Port()), DstPort: layers.TCPPort(target4.Port()), RST: true, ACK: true, Seq: 2}
		tcp.SetNetworkLayerForChecksum(ip.(networkLayer))
		return []gopacketLayer{eth, ip, tcp, payload(make([]byte, 500))}
	}()...)
	if err := b.w.WritePacket(captureInfo(b.now, 80, len(frame)), frame[:80]); err != nil {
		t.Fatal(err)
	}
	check(t, b.analyze(), want{flows: 1, synack: 1, ackOnly: 1, violation: "payload"})
}

func TestGapStats(t *testing.T) {
	var gaps []time.Duration
	for i := 100; i >= 1; i-- {
		gaps = append(gaps, time.Duration(i)*time.Millisecond)
	}
	g := gapStats(gaps)
	if g.N != 100 || g.P50 != 50*time.Millisecond || g.P99 != 99*time.Millisecond || g.Max != 100*time.Millisecond {
		t.Errorf("gapStats(1..100 ms) = %v", g)
	}
	if g := gapStats([]time.Duration{7}); g.P50 != 7 || g.P99 != 7 || g.Max != 7 || g.N != 1 {
		t.Errorf("gapStats(one) = %v", g)
	}
	if g := gapStats(nil); g != (GapStats{}) {
		t.Errorf("gapStats(nil) = %v", g)
	}
}

func TestReportErr(t *testing.T) {
	r := &Report{Path: "x.pcap"}
	if r.Err() != nil {
		t.Fatalf("empty report: %v", r.Err())
	}
	r.Dropped = 3
	if err := r.Err(); err == nil || !strings.Contains(err.Error(), "dropped 3") {
		t.Errorf("report with drops: %v", err)
	}
	r.Dropped = 0
	for range 12 {
		r.Violations = append(r.Violations, Violation{prober4, target4, "bad"})
	}
	err := r.Err()
	if err == nil || !strings.Contains(err.Error(), "12 violations") || !strings.Contains(err.Error(), "and 2 more") || !strings.Contains(err.Error(), "x.pcap") {
		t.Errorf("Err = %v", err)
	}
}

func TestAnalyzeFileErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := AnalyzeFile(filepath.Join(dir, "missing.pcap")); err == nil {
		t.Error("missing file analysed")
	}
	junk := filepath.Join(dir, "junk.pcap")
	os.WriteFile(junk, []byte("not a pcap file at all"), 0o644)
	if _, err := AnalyzeFile(junk); err == nil {
		t.Error("junk file analysed")
	}
	other := filepath.Join(dir, "other.pcap")
	f, _ := os.Create(other)
	w := pcapgo.NewWriter(f)
	w.WriteFileHeader(65535, layers.LinkTypeIEEE802_11)
	f.Close()
	if _, err := AnalyzeFile(other); err == nil || !strings.Contains(err.Error(), "link type") {
		t.Errorf("802.11 capture: %v", err)
	}
}

func TestDecodeAllocatesNothing(t *testing.T) {
	b := newPcap(t)
	frame := serialize(t, func() []gopacketLayer {
		ip, eth := b.ip(prober6.Addr(), target6.Addr(), layers.IPProtocolTCP)
		tcp := &layers.TCP{SrcPort: 1, DstPort: 2, SYN: true}
		tcp.SetNetworkLayerForChecksum(ip.(networkLayer))
		return []gopacketLayer{eth, ip, tcp}
	}()...)
	var ok bool
	if n := testing.AllocsPerRun(100, func() { _, ok = DecodeEthernet(frame) }); n != 0 {
		t.Errorf("DecodeEthernet allocates %v times per frame", n)
	}
	if !ok {
		t.Error("frame not decoded")
	}
}

func FuzzDecodeEthernet(f *testing.F) {
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 8, 0, 0x45})
	f.Fuzz(func(t *testing.T, b []byte) {
		s, ok := DecodeEthernet(b)
		if ok && !s.Src.IsValid() {
			t.Errorf("decoded %+v without a source", s)
		}
	})
}
