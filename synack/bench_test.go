package synack

import (
	"testing"
)

// Goals (issue 3): fill ≤ 25 ns/op, parse ≤ 25 ns/op, cookie ≤ 15 ns/op, all
// 0 allocs/op. Run: go test -run '^$' -bench . -benchmem -count 5 ./synack

func benchFill(b *testing.B, cfg TemplateConfig, segment bool) {
	tmpl, err := NewTemplate(cfg)
	if err != nil {
		b.Fatal(err)
	}
	dst := target4
	if cfg.Src.Is6() {
		dst = target6
	}
	buf := make([]byte, 128)
	b.ReportAllocs()
	b.SetBytes(int64(tmpl.PacketLen()))
	var seq uint32
	for b.Loop() {
		seq++
		if segment {
			tmpl.FillSegment(buf, dst, 40000, 443, seq)
		} else {
			tmpl.FillPacket(buf, dst, 40000, 443, seq)
		}
	}
}

var linuxOptions = TCPOptions{MSS: 1460, SACKPermitted: true, Timestamps: true, WindowScale: 7}

func BenchmarkFillPacketIPv4(b *testing.B) {
	benchFill(b, TemplateConfig{Src: prober4, Options: linuxOptions}, false)
}
func BenchmarkFillPacketIPv4Counter(b *testing.B) {
	benchFill(b, TemplateConfig{Src: prober4, Options: linuxOptions, IPID: IPIDCounter}, false)
}
func BenchmarkFillPacketIPv6(b *testing.B) {
	benchFill(b, TemplateConfig{Src: prober6, Options: linuxOptions}, false)
}
func BenchmarkFillSegmentIPv4(b *testing.B) {
	benchFill(b, TemplateConfig{Src: prober4, Options: linuxOptions}, true)
}
func BenchmarkFillSegmentIPv6(b *testing.B) {
	benchFill(b, TemplateConfig{Src: prober6, Options: linuxOptions}, true)
}

func benchParse(b *testing.B, name string) {
	var frame []byte
	for _, c := range gopacketReplies(b) {
		if c.name == name {
			frame = c.frame
		}
	}
	if frame == nil {
		b.Fatalf("no reply named %q", name)
	}
	var r Reply
	b.ReportAllocs()
	b.SetBytes(int64(len(frame)))
	for b.Loop() {
		if err := Parse(frame, LinkEthernet, &r); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseSYNACKIPv4(b *testing.B) { benchParse(b, "syn-ack-options/198.18.0.2") }
func BenchmarkParseSYNACKIPv6(b *testing.B) { benchParse(b, "syn-ack-options/2001:db8::2") }
func BenchmarkParseRSTIPv4(b *testing.B)    { benchParse(b, "rst-ack/198.18.0.2") }
func BenchmarkParseUnreachableIPv4(b *testing.B) {
	benchParse(b, "unreachable-whole/198.18.0.2")
}
func BenchmarkParseUnreachableIPv6(b *testing.B) {
	benchParse(b, "unreachable-whole/2001:db8::2")
}

func BenchmarkCookieIPv4(b *testing.B) {
	b.ReportAllocs()
	var sink uint32
	var port uint16
	for b.Loop() {
		port++
		sink += testKey.Cookie(prober4, target4, port, 443)
	}
	_ = sink
}

func BenchmarkCookieIPv6(b *testing.B) {
	b.ReportAllocs()
	var sink uint32
	var port uint16
	for b.Loop() {
		port++
		sink += testKey.Cookie(prober6, target6, port, 443)
	}
	_ = sink
}

func BenchmarkValidateSYNACKIPv4(b *testing.B) {
	r := Reply{Kind: KindSYNACK, Src: target4, Dst: prober4, SrcPort: 443, DstPort: 40000, Flags: FlagSYN | FlagACK}
	r.Ack = testKey.Cookie(prober4, target4, 40000, 443) + 1
	b.ReportAllocs()
	for b.Loop() {
		if !testKey.Validate(&r) {
			b.Fatal("does not validate")
		}
	}
}

func BenchmarkChecksum1500(b *testing.B) {
	buf := make([]byte, 1500)
	b.ReportAllocs()
	b.SetBytes(int64(len(buf)))
	for b.Loop() {
		Checksum(buf)
	}
}
