package synack

import (
	"net/netip"
	"testing"
)

// synTemplates returns a v4 and a v6 Template, the v4 one with options
// that make its TCP header longer than 20 bytes.
func synTemplates(t testing.TB) (t4, t6 *Template) {
	t.Helper()
	t4, err := NewTemplate(TemplateConfig{Src: prober4, Options: TCPOptions{MSS: 1460, SACKPermitted: true, Timestamps: true, WindowScale: 7}, IPID: IPIDCounter})
	if err != nil {
		t.Fatal(err)
	}
	t6, err = NewTemplate(TemplateConfig{Src: prober6, Options: TCPOptions{MSS: 1440, WindowScale: -1}})
	if err != nil {
		t.Fatal(err)
	}
	return t4, t6
}

// TestParseSYN reads back SYNs built by Templates, IPv4 and IPv6.
func TestParseSYN(t *testing.T) {
	t4, t6 := synTemplates(t)
	for _, c := range []struct {
		tmpl     *Template
		src, dst netip.Addr
	}{{t4, prober4, target4}, {t6, prober6, target6}} {
		buf := make([]byte, 128)
		n := c.tmpl.FillPacket(buf, c.dst, 40001, 443, 0xdeadbeef)
		if n == 0 {
			t.Fatalf("FillPacket to %v wrote nothing", c.dst)
		}
		want := SYN{Src: c.src, Dst: c.dst, SrcPort: 40001, DstPort: 443, Seq: 0xdeadbeef}
		got, ok := ParseSYN(buf[:n])
		if !ok || got != want {
			t.Errorf("ParseSYN(SYN to %v) = %+v, %v; want %+v, true", c.dst, got, ok, want)
		}
		// Bytes beyond the IP packet (padding) are ignored.
		if got, ok := ParseSYN(buf[:n+6]); !ok || got != want {
			t.Errorf("ParseSYN(SYN to %v + padding) = %+v, %v; want %+v, true", c.dst, got, ok, want)
		}
	}
}

// TestParseSYNRejects: anything but a whole SYN is refused.
func TestParseSYNRejects(t *testing.T) {
	t4, t6 := synTemplates(t)
	fill := func(tmpl *Template, dst netip.Addr) []byte {
		buf := make([]byte, 128)
		return buf[:tmpl.FillPacket(buf, dst, 40001, 443, 7)]
	}
	v4, v6 := fill(t4, target4), fill(t6, target6)
	mod := func(p []byte, f func([]byte)) []byte {
		q := append([]byte(nil), p...)
		f(q)
		return q
	}
	cases := map[string][]byte{
		"empty":                nil,
		"v4 truncated header":  v4[:19],
		"v4 truncated segment": v4[:len(v4)-1],
		"v4 only TCP ports":    mod(v4[:28], func(p []byte) { p[3] = 28 }),
		"v6 truncated header":  v6[:39],
		"v6 truncated segment": v6[:len(v6)-1],
		"version 5":            mod(v4, func(p []byte) { p[0] = 5<<4 | 5 }),
		"version 0":            mod(v6, func(p []byte) { p[0] = 0 }),
		"v4 IHL 4":             mod(v4, func(p []byte) { p[0] = 4<<4 | 4 }),
		"v4 IHL beyond packet": mod(v4, func(p []byte) { p[0] = 4<<4 | 15 }),
		"v4 fragment":          mod(v4, func(p []byte) { p[ipv4FlagsFrag] |= 0x20 }),
		"v4 UDP":               mod(v4, func(p []byte) { p[ipv4Protocol] = 17 }),
		"v6 ICMPv6":            mod(v6, func(p []byte) { p[ipv6NextHeader] = protoICMPv6 }),
		"v6 hop-by-hop":        mod(v6, func(p []byte) { p[ipv6NextHeader] = 0 }),
		"v4 SYN-ACK":           mod(v4, func(p []byte) { p[20+tcpFlags] |= FlagACK }),
		"v6 SYN-ACK":           mod(v6, func(p []byte) { p[40+tcpFlags] |= FlagACK }),
		"v4 RST, no SYN":       mod(v4, func(p []byte) { p[20+tcpFlags] = FlagRST }),
		"v6 data offset 4":     mod(v6, func(p []byte) { p[40+tcpDataOffset] = 4 << 4 }),
		"v4 data offset 15":    mod(v4, func(p []byte) { p[20+tcpDataOffset] = 15 << 4 }),
	}
	for name, p := range cases {
		if got, ok := ParseSYN(p); ok || got != (SYN{}) {
			t.Errorf("%s: ParseSYN = %+v, %v; want zero SYN, false", name, got, ok)
		}
	}
	// Positive control: the unmodified packets parse.
	for _, p := range [][]byte{v4, v6} {
		if _, ok := ParseSYN(p); !ok {
			t.Errorf("ParseSYN(%x) = false for an unmodified SYN", p)
		}
	}
}

// TestParseSYNAllocs: reading a SYN back allocates nothing.
func TestParseSYNAllocs(t *testing.T) {
	t4, t6 := synTemplates(t)
	b4, b6 := make([]byte, 128), make([]byte, 128)
	p4 := b4[:t4.FillPacket(b4, target4, 40001, 443, 7)]
	p6 := b6[:t6.FillPacket(b6, target6, 40001, 443, 7)]
	var sink uint32
	if a := testing.AllocsPerRun(100, func() {
		s4, _ := ParseSYN(p4)
		s6, _ := ParseSYN(p6)
		_, _ = ParseSYN(p4[:30])
		sink += s4.Seq + s6.Seq
	}); a != 0 {
		t.Errorf("ParseSYN: %v allocations per run, want 0", a)
	}
	_ = sink
}
