package synack

import (
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"golang.org/x/net/bpf"
)

// Seed corpora live in testdata/fuzz/<target>/ (written by
// TestFuzzCorpus -update); `make fuzz` runs each target briefly.

// FuzzParse: Parse never panics, never reads out of range (the race and
// bounds checks would panic), fully overwrites r, and whatever it accepts
// gopacket decodes to the same fields.
func FuzzParse(f *testing.F) {
	for _, s := range parseSeeds(f) {
		f.Add(s.frame, s.link)
	}
	f.Fuzz(func(t *testing.T, frame []byte, link uint8) {
		var r, stale Reply
		err := Parse(frame, LinkType(link), &r)
		stale = Reply{Kind: KindUnreachable, SrcPort: 1, OrigSeq: 9, TTL: 3, Src: prober6, OrigSrc: prober4}
		err2 := Parse(frame, LinkType(link), &stale)
		if err != err2 || r != stale {
			t.Fatalf("Parse depends on the previous contents of r: %v/%v, %+v vs %+v", err, err2, r, stale)
		}
		if err != nil {
			if r != (Reply{}) {
				t.Fatalf("Parse failed with %v but left %+v", err, r)
			}
			return
		}
		if !r.Src.IsValid() || !r.Dst.IsValid() || r.Src.Is4() != r.Dst.Is4() {
			t.Fatalf("addresses %v %v", r.Src, r.Dst)
		}
		switch r.Kind {
		case KindSYNACK:
			if r.Flags&(FlagSYN|FlagACK) != FlagSYN|FlagACK || r.Flags&FlagRST != 0 {
				t.Fatalf("SYN-ACK with flags %#x", r.Flags)
			}
		case KindRST:
			if r.Flags&FlagRST == 0 {
				t.Fatalf("RST with flags %#x", r.Flags)
			}
		case KindUnreachable:
			if !r.OrigSrc.IsValid() || r.OrigSrc.Is4() != r.Src.Is4() || (r.ICMPType != 3 && r.ICMPType != 1) {
				t.Fatalf("unreachable %+v", r)
			}
		default:
			t.Fatalf("kind %v", r.Kind)
		}
		crossCheckGopacket(t, frame, LinkType(link), &r)
	})
}

// crossCheckGopacket decodes frame with gopacket and, when gopacket decodes
// it cleanly, compares the fields Parse returned.
func crossCheckGopacket(t testing.TB, frame []byte, link LinkType, r *Reply) {
	first := gopacket.LayerType(layers.LayerTypeEthernet)
	if link == LinkIP {
		first = layers.LayerTypeIPv4
		if frame[0]>>4 == 6 {
			first = layers.LayerTypeIPv6
		}
	}
	p := gopacket.NewPacket(frame, first, gopacket.DecodeOptions{NoCopy: true})
	if p.ErrorLayer() != nil {
		return // gopacket is stricter about TCP options, ICMP payloads, ...
	}
	var src, dst []byte
	switch ip := p.NetworkLayer().(type) {
	case *layers.IPv4:
		src, dst = ip.SrcIP, ip.DstIP
	case *layers.IPv6:
		src, dst = ip.SrcIP, ip.DstIP
	default:
		t.Fatalf("Parse accepted, gopacket finds network layer %T", p.NetworkLayer())
	}
	if r.Src != addr(src) || r.Dst != addr(dst) {
		t.Fatalf("addresses: Parse %v > %v, gopacket %v > %v", r.Src, r.Dst, addr(src), addr(dst))
	}
	if r.Kind == KindUnreachable {
		return
	}
	tcp, _ := p.Layer(layers.LayerTypeTCP).(*layers.TCP)
	if tcp == nil {
		t.Fatalf("Parse found %v, gopacket no TCP layer: %v", r.Kind, p)
	}
	if uint16(tcp.SrcPort) != r.SrcPort || uint16(tcp.DstPort) != r.DstPort || tcp.Seq != r.Seq || tcp.Ack != r.Ack || tcp.SYN != (r.Flags&FlagSYN != 0) || tcp.RST != (r.Flags&FlagRST != 0) {
		t.Fatalf("Parse %+v, gopacket %+v", r, tcp)
	}
}

func addr(b []byte) netip.Addr {
	a, _ := netip.AddrFromSlice(b)
	return a
}

// FuzzUpdateChecksum: the RFC 1624 update of a 16- or 32-bit word equals a
// recomputation.
func FuzzUpdateChecksum(f *testing.F) {
	for _, s := range updateSeeds {
		f.Add(s.data, s.off, s.new)
	}
	f.Fuzz(func(t *testing.T, data []byte, off uint16, new uint32) {
		if len(data) < 4 {
			return
		}
		data = data[:len(data)&^1]
		o := int(off) % (len(data) / 2) * 2
		if o+4 > len(data) {
			o = len(data) - 4
		}
		check := naiveChecksum(data)
		old32 := binary.BigEndian.Uint32(data[o:])
		b := append([]byte(nil), data...)
		binary.BigEndian.PutUint16(b[o:], uint16(new>>16))
		if got, want := UpdateChecksum16(check, uint16(old32>>16), uint16(new>>16)), naiveChecksum(b); !sameChecksum(b, got, want) {
			t.Fatalf("UpdateChecksum16 = %#04x, recomputed %#04x", got, want)
		}
		binary.BigEndian.PutUint32(b[o:], new)
		if got, want := UpdateChecksum32(check, old32, new), naiveChecksum(b); !sameChecksum(b, got, want) {
			t.Fatalf("UpdateChecksum32 = %#04x, recomputed %#04x", got, want)
		}
		if got, want := Checksum(b), naiveChecksum(b); got != want {
			t.Fatalf("Checksum = %#04x, reference %#04x", got, want)
		}
	})
}

// FuzzFillPacket: any SYN built by a Template has checksums that verify and
// reads back the fields it was filled with, through ParseSYN and, made a
// SYN-ACK, through Parse.
func FuzzFillPacket(f *testing.F) {
	for _, s := range fillSeeds {
		f.Add(s.src, s.dst, s.sport, s.dport, s.seq, s.mss, s.bits)
	}
	f.Fuzz(func(t *testing.T, src, dst []byte, sport, dport uint16, seq uint32, mss uint16, bits uint8) {
		s, ok1 := netip.AddrFromSlice(src)
		d, ok2 := netip.AddrFromSlice(dst)
		if !ok1 || !ok2 {
			return
		}
		cfg := TemplateConfig{Src: s, Options: TCPOptions{MSS: mss, SACKPermitted: bits&1 != 0, Timestamps: bits&2 != 0, WindowScale: int(bits>>4) - 1},
			TTL: bits, Window: mss, IPID: IPIDPolicy(bits>>2) % 3}
		if cfg.Options.WindowScale > 14 {
			cfg.Options.WindowScale = 14
		}
		tmpl, err := NewTemplate(cfg)
		if err != nil {
			if s.Unmap().IsValid() && !s.Unmap().IsUnspecified() {
				t.Fatalf("NewTemplate(%+v): %v", cfg, err)
			}
			return
		}
		buf := make([]byte, 128)
		n := tmpl.FillPacket(buf, d, sport, dport, seq)
		if tmpl.IPv6() != (d.Is6() && !d.Is4In6()) {
			if n != 0 {
				t.Fatalf("filled %d bytes for a destination of the other family", n)
			}
			return
		}
		pkt := buf[:n]
		ipLen := n - tmpl.SegmentLen()
		var pseudo uint32
		if tmpl.IPv6() {
			pseudo = pseudoHeaderSum(pkt[ipv6Src:ipv6Src+16], pkt[ipv6Dst:ipv6Dst+16], protoTCP, tmpl.SegmentLen())
		} else {
			if naiveChecksum(pkt[:ipLen]) != 0 {
				t.Fatalf("IPv4 header checksum does not verify: %x", pkt[:ipLen])
			}
			pseudo = pseudoHeaderSum(pkt[ipv4Src:ipv4Src+4], pkt[ipv4Dst:ipv4Dst+4], protoTCP, tmpl.SegmentLen())
		}
		if c := Fold(Sum(pkt[ipLen:], pseudo)); c != 0 {
			t.Fatalf("TCP checksum does not verify (%#04x): %x", c, pkt)
		}
		if syn, ok := ParseSYN(pkt); !ok || syn != (SYN{Src: s.Unmap(), Dst: d.Unmap(), SrcPort: sport, DstPort: dport, Seq: seq}) {
			t.Fatalf("filled SYN reads back as %+v, %v", syn, ok)
		}
		pkt[ipLen+tcpFlags] |= FlagACK
		var r Reply
		if err := Parse(pkt, LinkIP, &r); err != nil || r.Src != s.Unmap() || r.Dst != d.Unmap() || r.SrcPort != sport || r.DstPort != dport || r.Seq != seq {
			t.Fatalf("filled SYN parses as %+v, %v", r, err)
		}
	})
}

// FuzzFilter: whatever Parse decodes as a reply for a port in the range,
// the Filter program (run in x/net/bpf's VM) accepts, for both link types;
// the VM never fails on any input; and an accepted frame cut to the
// length the program returns still decodes the same.
func FuzzFilter(f *testing.F) {
	for _, s := range parseSeeds(f) {
		f.Add(s.frame, s.link)
	}
	vms := map[LinkType]*bpf.VM{}
	for _, link := range []LinkType{LinkEthernet, LinkIP} {
		prog, err := Filter(link, 40000, 40010)
		if err != nil {
			f.Fatal(err)
		}
		if vms[link], err = bpf.NewVM(prog); err != nil {
			f.Fatal(err)
		}
	}
	f.Fuzz(func(t *testing.T, frame []byte, link uint8) {
		l := LinkType(link)
		vm := vms[l]
		if vm == nil {
			return
		}
		n, err := vm.Run(frame)
		if err != nil {
			t.Fatalf("VM: %v", err)
		}
		var r Reply
		if Parse(frame, l, &r) != nil {
			return
		}
		port := r.DstPort
		if r.Kind == KindUnreachable {
			port = r.OrigSrcPort
		}
		vlan := l == LinkEthernet && frame[12] == 0x81 && frame[13] == 0
		if port >= 40000 && port <= 40010 && !vlan && n == 0 {
			t.Fatalf("Parse decodes %+v, the filter rejects it", r)
		}
		if n != 0 && (port < 40000 || port > 40010) {
			t.Fatalf("filter accepts port %d: %+v", port, r)
		}
		if n == 0 {
			return
		}
		// What the kernel keeps of it (FilterSnapLen bytes) decodes the
		// same, unless the headers Parse reads are longer (IPv4 errors
		// whose two headers carry many options): then it is truncated.
		if n != FilterSnapLen {
			t.Fatalf("filter returned %d, want %d", n, FilterSnapLen)
		}
		l3 := 0
		if l == LinkEthernet {
			l3 = ethHeaderLen
		}
		need := l3 + ipNeeds(t, frame[l3:])
		var short Reply
		err = Parse(frame[:min(n, len(frame))], l, &short)
		if need <= n && (err != nil || short != r) {
			t.Fatalf("cut to %d bytes, of which Parse reads %d: %v, %+v, want %+v", n, need, err, short, r)
		}
		if need > n && err != ErrTruncated {
			t.Fatalf("cut to %d bytes, Parse reads %d: %v, want ErrTruncated", n, need, err)
		}
	})
}
