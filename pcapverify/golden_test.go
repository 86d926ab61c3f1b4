package pcapverify

import (
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite testdata/halfopen.pcap")

// goldenPath is a small synthetic capture: one correct half-open check of
// an open port, one closed port, one ICMP unreachable, one silent target.
const goldenPath = "testdata/halfopen.pcap"

func writeGolden(b *pcapBuilder) {
	b.tcp(prober4, target4, fSYN, 100, 0).wait(40*time.Microsecond).
		tcp(target4, prober4, fSYNACK, 900, 0).wait(25*time.Microsecond).
		tcp(prober4, target4, fRST, 101, 0).wait(time.Millisecond)
	closed := netip4("198.18.0.1:81")
	b.tcp(prober4, closed, fSYN, 200, 0).wait(30*time.Microsecond).
		tcp(closed, prober4, fRSTACK, 0, 0).wait(time.Millisecond)
	unreach := netip4("[2001:db8:e::1]:80")
	b.tcp(prober6, unreach, fSYN, 300, 0).wait(50*time.Microsecond).
		icmp(unreach.Addr(), prober6, unreach).wait(time.Millisecond)
	b.tcp(prober4, netip4("198.19.0.1:80"), fSYN, 400, 0)
}

func TestGolden(t *testing.T) {
	if *update {
		b := newPcap(t)
		writeGolden(b)
		if err := b.f.Close(); err != nil {
			t.Fatal(err)
		}
		data, err := os.ReadFile(b.path)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Dir(goldenPath), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(goldenPath, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	r, err := AnalyzeFile(goldenPath)
	if err != nil {
		t.Fatal(err)
	}
	check(t, r, want{flows: 4, synack: 1, rst: 1, icmp: 1, none: 1})
	if r.Gap.N != 1 || r.Gap.Max != 25*time.Microsecond {
		t.Errorf("gap %v, want one of 25µs", r.Gap)
	}
}

// BenchmarkAnalyzeFile measures the analysis of a capture of 10,000
// correct half-open checks (30,000 frames).
func BenchmarkAnalyzeFile(b *testing.B) {
	dir := b.TempDir()
	path := filepath.Join(dir, "bench.pcap")
	pb := newPcapAt(b, path)
	for i := range 10000 {
		src := netip4(prober4.Addr().String() + ":" + itoa(10000+i))
		pb.tcp(src, target4, fSYN, uint32(i), 0).tcp(target4, src, fSYNACK, 9, 0).tcp(src, target4, fRST, uint32(i)+1, 0)
	}
	if err := pb.f.Close(); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		r, err := AnalyzeFile(path)
		if err != nil || r.Err() != nil || len(r.Flows) != 10000 {
			b.Fatalf("%v %v", err, r)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/30000, "ns/frame")
}
