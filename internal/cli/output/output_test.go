package output

import (
	"bytes"
	"flag"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"

	"github.com/rawprobe/rawprobe/rawcheck"
	"github.com/rawprobe/rawprobe/synack"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

var when = time.Date(2026, 11, 25, 19, 30, 0, 123456000, time.UTC)

// sample holds one record of every state, IPv4 and IPv6, and a named target.
var sample = []Record{
	{"db.example:5432", rawcheck.Result{Target: netip.MustParseAddrPort("198.18.0.5:5432"), State: rawcheck.Open, RTT: 1234567 * time.Nanosecond, Attempts: 1, TTL: 64}, when},
	{"198.18.0.6:81", rawcheck.Result{Target: netip.MustParseAddrPort("198.18.0.6:81"), State: rawcheck.Closed, RTT: 87 * time.Microsecond, Attempts: 1, TTL: 64}, when.Add(time.Millisecond)},
	{"[2001:db8::1]:443", rawcheck.Result{Target: netip.MustParseAddrPort("[2001:db8::1]:443"), State: rawcheck.Timeout, Attempts: 3}, when.Add(2 * time.Millisecond)},
	{"203.0.113.9:22", rawcheck.Result{Target: netip.MustParseAddrPort("203.0.113.9:22"), State: rawcheck.Unreachable, ICMPType: 3, ICMPCode: 1, RTT: 2 * time.Millisecond, Attempts: 2, TTL: 63}, when.Add(3 * time.Millisecond)},
	{`we"ird\name:1`, rawcheck.Result{Target: netip.MustParseAddrPort("[2001:db8::2]:1"), State: rawcheck.Open, RTT: time.Microsecond, Attempts: 1, TTL: 255}, when},
	{"192.0.2.1:80", rawcheck.Result{Target: netip.MustParseAddrPort("192.0.2.1:80"), State: rawcheck.NoRoute}, when.Add(4 * time.Millisecond)},
}

func render(t *testing.T, format string, open bool, recs []Record) string {
	t.Helper()
	var buf bytes.Buffer
	w, err := NewWriter(format, &buf)
	if err != nil {
		t.Fatal(err)
	}
	if open {
		w = OpenOnly(w)
	}
	for _, r := range recs {
		if err := w.Write(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Errorf("%s differs from the golden file:\n--- got\n%s--- want\n%s", name, got, want)
	}
}

func TestGolden(t *testing.T) {
	for _, format := range Formats {
		golden(t, "sample."+format, render(t, format, false, sample))
		golden(t, "sample-open."+format, render(t, format, true, sample))
	}
}

func TestFormatsAgree(t *testing.T) {
	// The JSON lines decode to the records they came from.
	out := render(t, "jsonl", false, sample)
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != len(sample) {
		t.Fatalf("%d lines for %d records", len(lines), len(sample))
	}
	for i, line := range lines {
		var got struct {
			Target   string
			IP       string
			Port     uint16
			State    string
			RTTUs    int64 `json:"rtt_us"`
			Attempts int
			TTL      uint8
			ICMPType uint8 `json:"icmp_type"`
			ICMPCode uint8 `json:"icmp_code"`
			Time     time.Time
		}
		if err := jsonUnmarshal(line, &got); err != nil {
			t.Fatalf("line %d %q: %v", i, line, err)
		}
		r := sample[i]
		if got.Target != r.Name || got.IP != r.Result.Target.Addr().String() || got.Port != r.Result.Target.Port() ||
			got.State != r.Result.State.String() || got.RTTUs != r.Result.RTT.Microseconds() || got.Attempts != r.Result.Attempts ||
			got.TTL != r.Result.TTL || got.ICMPType != r.Result.ICMPType || got.ICMPCode != r.Result.ICMPCode || !got.Time.Equal(r.Time) {
			t.Errorf("line %d decodes to %+v, want %+v", i, got, r)
		}
	}
	// CSV: header plus one row per record, even for an empty run.
	if got := render(t, "csv", false, nil); got != strings.Join(CSVHeader, ",")+"\n" {
		t.Errorf("empty csv = %q", got)
	}
	if got := render(t, "text", true, append(sample[1:4:4], sample[5])); got != "" {
		t.Errorf("--open kept non-open records: %q", got)
	}
	if _, err := NewWriter("xml", io.Discard); err == nil || !strings.Contains(err.Error(), `"xml"`) {
		t.Errorf("NewWriter(xml): %v", err)
	}
}

func TestWritersDoNotAllocate(t *testing.T) {
	for _, format := range []string{"text", "jsonl"} {
		w, _ := NewWriter(format, io.Discard)
		w.Write(sample[0])
		if n := testing.AllocsPerRun(100, func() { w.Write(sample[0]) }); n != 0 {
			t.Errorf("%s: %v allocations per record", format, n)
		}
	}
}

func TestTally(t *testing.T) {
	var tl Tally
	if tl.AllOpen() {
		t.Error("nothing probed must not count as all open")
	}
	tl.Add(sample[0].Result)
	tl.Add(sample[4].Result)
	if !tl.AllOpen() {
		t.Errorf("all open: AllOpen false, %+v", tl)
	}
	for _, r := range sample[1:4] {
		tl.Add(r.Result)
	}
	if tl.AllOpen() {
		t.Errorf("some not open: AllOpen true, %+v", tl)
	}
	// A target without a route is not open either, and is counted apart
	// from the unreachable ones.
	var noRoute Tally
	noRoute.Add(sample[0].Result)
	noRoute.Add(sample[5].Result)
	if noRoute.AllOpen() || noRoute.NoRoute != 1 || noRoute.Unreachable != 0 {
		t.Errorf("open and noroute: AllOpen %v, %+v; want false, noroute 1, unreachable 0", noRoute.AllOpen(), noRoute)
	}
	tl.Add(sample[5].Result)
	want := "rawprobe: probed 6, open 2, closed 1, timeout 1, unreachable 1, noroute 1, invalid replies 7, elapsed 1.5s"
	if got := tl.Summary(7, 1500*time.Millisecond); got != want {
		t.Errorf("Summary = %q, want %q", got, want)
	}
}

// TestTimingSummary: the RTT percentiles and the loss estimate follow the
// summary when the engine measured RTTs, and nothing does without (the
// connect engine).
func TestTimingSummary(t *testing.T) {
	st := rawcheck.Stats{RTTSamples: 10, RTTP50: 2435496 * time.Nanosecond, RTTP99: 200 * time.Millisecond, LossEstimate: 0.0996}
	if got, want := TimingSummary(st), ", rtt p50 2.44ms p99 200ms, loss estimate 10.0%"; got != want {
		t.Errorf("TimingSummary = %q, want %q", got, want)
	}
	if got := TimingSummary(rawcheck.Stats{LossEstimate: 0.5}); got != "" {
		t.Errorf("TimingSummary without RTT samples = %q, want empty", got)
	}
}

// TestSweepSummaries: a sweep's summary counts the targets swept and those
// with no answer, and its timing summary has the RTTs and no loss
// estimate.
func TestSweepSummaries(t *testing.T) {
	tl := Tally{Probed: 10, Open: 3, Closed: 2, Unreachable: 1, NoRoute: 1, NoAnswer: 3}
	want := "rawprobe: swept 10, open 3, closed 2, unreachable 1, noroute 1, no answer 3 (not listed), invalid replies 4, elapsed 2s"
	if got := tl.SweepSummary(4, 2*time.Second); got != want {
		t.Errorf("SweepSummary = %q, want %q", got, want)
	}
	if c := tl.Counts(); c.NoAnswer != 3 || c.Probed != 10 {
		t.Errorf("Counts = %+v, want probed 10, no answer 3", c)
	}
	st := rawcheck.Stats{RTTSamples: 10, RTTP50: 2435496 * time.Nanosecond, RTTP99: 200 * time.Millisecond, LossEstimate: 0.5}
	if got, want := SweepTimingSummary(st), ", rtt p50 2.44ms p99 200ms"; got != want {
		t.Errorf("SweepTimingSummary = %q, want %q", got, want)
	}
	if got := SweepTimingSummary(rawcheck.Stats{}); got != "" {
		t.Errorf("SweepTimingSummary without RTT samples = %q, want empty", got)
	}
}

func TestProgress(t *testing.T) {
	var buf bytes.Buffer
	p := NewProgress(&buf, 10, false)
	if p != nil {
		t.Fatal("progress shown although not on a terminal")
	}
	p.Add(sample[0].Result) // nil-safe
	p.Finish()
	p = NewProgress(&buf, 2, true)
	p.Add(sample[0].Result)
	p.Add(sample[1].Result)
	p.Finish()
	if out := buf.String(); !strings.Contains(out, "open 1") || !strings.Contains(out, "/2") || !strings.Contains(out, "targets") {
		t.Errorf("bar output %q lacks the open count, total or rate", out)
	}
}

// ipv4SYN is a minimal IPv4 TCP SYN 198.18.0.1:61000 -> 198.18.0.2:80.
func ipv4SYN() []byte {
	ip := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: layers.IPProtocolTCP,
		SrcIP: netip.MustParseAddr("198.18.0.1").AsSlice(), DstIP: netip.MustParseAddr("198.18.0.2").AsSlice()}
	tcp := &layers.TCP{SrcPort: 61000, DstPort: 80, SYN: true, Seq: 1, Window: 1024}
	tcp.SetNetworkLayerForChecksum(ip)
	buf := gopacket.NewSerializeBuffer()
	gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ip, tcp)
	return buf.Bytes()
}

func TestPcapTap(t *testing.T) {
	syn := ipv4SYN()
	eth := append([]byte{0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 2, 0x08, 0x00}, syn...)
	vlan := append([]byte{0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 2, 0x81, 0x00, 0, 5, 0x08, 0x00}, syn...)
	arp := []byte{0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 2, 0x08, 0x06, 1, 2, 3}

	var file bytes.Buffer
	tap, err := NewPcapTap(&file)
	if err != nil {
		t.Fatal(err)
	}
	tap.Packet(when, syn, synack.LinkIP, true)
	tap.Packet(when.Add(time.Millisecond), eth, synack.LinkEthernet, false)
	tap.Packet(when.Add(2*time.Millisecond), vlan, synack.LinkEthernet, false)
	tap.Packet(when, arp, synack.LinkEthernet, false)          // not IP: skipped
	tap.Packet(when, []byte{0x10, 1, 2}, synack.LinkIP, false) // not IP: skipped
	if err := tap.Flush(); err != nil {
		t.Fatal(err)
	}
	if tap.Packets() != 3 {
		t.Errorf("Packets = %d, want 3", tap.Packets())
	}

	r, err := pcapgo.NewReader(&file)
	if err != nil {
		t.Fatal(err)
	}
	if r.LinkType() != layers.LinkTypeRaw {
		t.Errorf("link type %v", r.LinkType())
	}
	n := 0
	for {
		data, ci, err := r.ReadPacketData()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if !ci.Timestamp.Equal(when.Add(time.Duration(n) * time.Millisecond)) {
			t.Errorf("packet %d at %v", n, ci.Timestamp)
		}
		pkt := gopacket.NewPacket(data, layers.LinkTypeRaw, gopacket.Default)
		tcp, _ := pkt.Layer(layers.LayerTypeTCP).(*layers.TCP)
		if tcp == nil || !tcp.SYN || tcp.DstPort != 80 {
			t.Errorf("packet %d does not decode as the SYN: %v", n, pkt)
		}
		n++
	}
	if n != 3 {
		t.Errorf("read back %d packets, want 3", n)
	}
}

func BenchmarkWriter(b *testing.B) {
	for _, format := range Formats {
		b.Run(format, func(b *testing.B) {
			w, _ := NewWriter(format, io.Discard)
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				w.Write(sample[i%len(sample)])
			}
			w.Flush()
		})
	}
}
