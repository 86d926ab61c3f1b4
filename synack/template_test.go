package synack

import (
	"errors"
	"net/netip"
	"sync"
	"testing"
)

func TestNewTemplateErrors(t *testing.T) {
	for name, cfg := range map[string]TemplateConfig{
		"no source":          {Options: TCPOptions{WindowScale: -1}},
		"unspecified source": {Src: netip.IPv4Unspecified(), Options: TCPOptions{WindowScale: -1}},
		"window scale 15":    {Src: prober4, Options: TCPOptions{WindowScale: 15}},
		"window scale -2":    {Src: prober4, Options: TCPOptions{WindowScale: -2}},
		"TSval without ts":   {Src: prober4, Options: TCPOptions{TSval: 1, WindowScale: -1}},
		"ipid policy 9":      {Src: prober4, Options: TCPOptions{WindowScale: -1}, IPID: 9},
	} {
		if tmpl, err := NewTemplate(cfg); err == nil || !errors.Is(err, ErrTemplateConfig) {
			t.Errorf("%s: NewTemplate = %v, %v; want an ErrTemplateConfig error", name, tmpl, err)
		} else {
			t.Logf("%s: %v", name, err)
		}
	}
}

func TestTemplateLengths(t *testing.T) {
	for _, c := range []struct {
		cfg             TemplateConfig
		packet, segment int
	}{
		{TemplateConfig{Src: prober4, Options: TCPOptions{WindowScale: -1}}, 40, 20},
		{TemplateConfig{Src: prober4, Options: TCPOptions{MSS: 1460, SACKPermitted: true, Timestamps: true, WindowScale: 7}}, 60, 40},
		{TemplateConfig{Src: prober6, Options: TCPOptions{MSS: 1460, SACKPermitted: true, WindowScale: 7}}, 72, 32},
		{TemplateConfig{Src: netip.AddrFrom16(prober4.As16()), Options: TCPOptions{WindowScale: -1}}, 40, 20},
	} {
		tmpl, err := NewTemplate(c.cfg)
		if err != nil {
			t.Fatal(err)
		}
		if tmpl.PacketLen() != c.packet || tmpl.SegmentLen() != c.segment {
			t.Errorf("%+v: lengths %d/%d, want %d/%d", c.cfg, tmpl.PacketLen(), tmpl.SegmentLen(), c.packet, c.segment)
		}
	}
}

// TestFillRefuses: a short buffer or a destination of the other family
// writes nothing and returns 0.
func TestFillRefuses(t *testing.T) {
	t4, _ := NewTemplate(TemplateConfig{Src: prober4, Options: TCPOptions{WindowScale: -1}})
	t6, _ := NewTemplate(TemplateConfig{Src: prober6, Options: TCPOptions{WindowScale: -1}})
	buf := make([]byte, 100)
	for name, c := range map[string]struct {
		tmpl *Template
		buf  []byte
		dst  netip.Addr
	}{
		"v4 short":     {t4, buf[:39], target4},
		"v6 short":     {t6, buf[:59], target6},
		"v4 to v6":     {t4, buf, target6},
		"v6 to v4":     {t6, buf, target4},
		"v6 to mapped": {t6, buf, netip.AddrFrom16(target4.As16())},
		"v4 invalid":   {t4, buf, netip.Addr{}},
	} {
		buf[0] = 0xaa
		if n := c.tmpl.FillPacket(c.buf, c.dst, 1, 2, 3); n != 0 || buf[0] != 0xaa {
			t.Errorf("%s: FillPacket = %d, first byte %#x", name, n, buf[0])
		}
		if n := c.tmpl.FillSegment(c.buf[:min(len(c.buf), c.tmpl.SegmentLen()-1)], target4, 1, 2, 3); n != 0 {
			t.Errorf("%s: FillSegment into a short buffer = %d", name, n)
		}
	}
	// Positive control: the same templates fill a mapped IPv4 destination
	// and exact-size buffers.
	if n := t4.FillPacket(buf[:40], netip.AddrFrom16(target4.As16()), 1, 2, 3); n != 40 {
		t.Fatalf("v4 to mapped v4: %d", n)
	}
	if n := t6.FillSegment(buf[:20], target6, 1, 2, 3); n != 20 {
		t.Fatalf("v6 segment: %d", n)
	}
}

func TestIPIDPolicies(t *testing.T) {
	ids := func(p IPIDPolicy) []uint16 {
		tmpl, err := NewTemplate(TemplateConfig{Src: prober4, Options: TCPOptions{WindowScale: -1}, IPID: p})
		if err != nil {
			t.Fatal(err)
		}
		var out []uint16
		buf := make([]byte, 40)
		for range 50 {
			tmpl.FillPacket(buf, target4, 1, 2, 3)
			out = append(out, uint16(buf[ipv4ID])<<8|uint16(buf[ipv4ID+1]))
			if Checksum(buf[:ipv4MinLen]) != 0 {
				t.Fatalf("policy %d: IPv4 header checksum does not verify: %x", p, buf[:20])
			}
		}
		return out
	}
	for _, id := range ids(IPIDZero) {
		if id != 0 {
			t.Fatalf("IPIDZero sent %d", id)
		}
	}
	c := ids(IPIDCounter)
	for i := 1; i < len(c); i++ {
		if c[i] != c[i-1]+1 {
			t.Fatalf("IPIDCounter sent %d after %d", c[i], c[i-1])
		}
	}
	distinct := map[uint16]bool{}
	for _, id := range ids(IPIDRandom) {
		distinct[id] = true
	}
	if len(distinct) < 40 {
		t.Fatalf("IPIDRandom sent only %d distinct IDs in 50", len(distinct))
	}
}

// TestTemplateConcurrent fills one template from several goroutines; the
// race detector checks it is safe, and every packet must be intact.
func TestTemplateConcurrent(t *testing.T) {
	tmpl, err := NewTemplate(TemplateConfig{Src: prober4, Options: TCPOptions{MSS: 1460, WindowScale: -1}, IPID: IPIDCounter})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for g := range 4 {
		wg.Go(func() {
			buf := make([]byte, 64)
			var r Reply
			for i := range 500 {
				n := tmpl.FillPacket(buf, target4, uint16(g), uint16(i), uint32(i))
				if Checksum(buf[:ipv4MinLen]) != 0 || Fold(Sum(buf[ipv4MinLen:n], pseudoHeaderSum(buf[ipv4Src:ipv4Src+4], buf[ipv4Dst:ipv4Dst+4], protoTCP, n-ipv4MinLen))) != 0 {
					errs <- errors.New("bad checksum")
					return
				}
				buf[ipv4MinLen+tcpFlags] |= FlagACK // make it parse
				if err := Parse(buf[:n], LinkIP, &r); err != nil || r.SrcPort != uint16(g) || r.DstPort != uint16(i) || r.Seq != uint32(i) {
					errs <- errors.New("bad fields")
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}
