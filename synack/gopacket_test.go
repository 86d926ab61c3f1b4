package synack

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

// Documentation addresses only (preamble: 198.18.0.0/15, 203.0.113.0/24,
// 2001:db8::/32); nothing in this file touches a network.
var (
	prober4 = netip.MustParseAddr("198.18.0.1")
	target4 = netip.MustParseAddr("198.18.0.2")
	router4 = netip.MustParseAddr("203.0.113.9")
	prober6 = netip.MustParseAddr("2001:db8::1")
	target6 = netip.MustParseAddr("2001:db8::2")
	router6 = netip.MustParseAddr("2001:db8:ff::9")
)

var testMACs = [2]net.HardwareAddr{{0x02, 0, 0, 0, 0, 1}, {0x02, 0, 0, 0, 0, 2}}

// serialize builds a packet with gopacket, lengths and checksums computed.
func serialize(t testing.TB, ls ...gopacket.SerializableLayer) []byte {
	t.Helper()
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		t.Fatalf("gopacket serialize: %v", err)
	}
	return append([]byte(nil), buf.Bytes()...)
}

// ipLayer returns a gopacket IPv4 or IPv6 layer from src to dst carrying proto.
func ipLayer(src, dst netip.Addr, proto layers.IPProtocol, ttl uint8) gopacket.NetworkLayer {
	if src.Is4() {
		return &layers.IPv4{Version: 4, TTL: ttl, Protocol: proto, Flags: layers.IPv4DontFragment, Id: 0x1234,
			SrcIP: src.AsSlice(), DstIP: dst.AsSlice()}
	}
	return &layers.IPv6{Version: 6, HopLimit: ttl, NextHeader: proto, SrcIP: src.AsSlice(), DstIP: dst.AsSlice()}
}

func ethLayer(ip netip.Addr) *layers.Ethernet {
	et := layers.EthernetTypeIPv4
	if ip.Is6() {
		et = layers.EthernetTypeIPv6
	}
	return &layers.Ethernet{SrcMAC: testMACs[0], DstMAC: testMACs[1], EthernetType: et}
}

// tcpReply serializes with gopacket an IP packet carrying a TCP segment
// from src:sport to dst:dport; with eth, an Ethernet frame.
func tcpReply(t testing.TB, eth bool, src, dst netip.Addr, sport, dport uint16, seq, ack uint32, flags uint8, opts []layers.TCPOption) []byte {
	t.Helper()
	ip := ipLayer(src, dst, layers.IPProtocolTCP, 57)
	tcp := &layers.TCP{SrcPort: layers.TCPPort(sport), DstPort: layers.TCPPort(dport), Seq: seq, Ack: ack, Window: 65160,
		FIN: flags&FlagFIN != 0, SYN: flags&FlagSYN != 0, RST: flags&FlagRST != 0, PSH: flags&FlagPSH != 0,
		ACK: flags&FlagACK != 0, URG: flags&FlagURG != 0, ECE: flags&FlagECE != 0, CWR: flags&FlagCWR != 0, Options: opts}
	if err := tcp.SetNetworkLayerForChecksum(ip); err != nil {
		t.Fatal(err)
	}
	ls := []gopacket.SerializableLayer{ip.(gopacket.SerializableLayer), tcp}
	if eth {
		ls = append([]gopacket.SerializableLayer{ethLayer(src)}, ls...)
	}
	return serialize(t, ls...)
}

// unreachable serializes with gopacket an ICMP or ICMPv6 destination
// unreachable from router to the quoted packet's source, quoting quoted.
func unreachable(t testing.TB, eth bool, router netip.Addr, quoted []byte, code uint8) []byte {
	t.Helper()
	var ls []gopacket.SerializableLayer
	if router.Is4() {
		src := netip.AddrFrom4([4]byte(quoted[ipv4Src:]))
		ls = []gopacket.SerializableLayer{ipLayer(router, src, layers.IPProtocolICMPv4, 250).(gopacket.SerializableLayer),
			&layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(layers.ICMPv4TypeDestinationUnreachable, code)}, gopacket.Payload(quoted)}
	} else {
		src := netip.AddrFrom16([16]byte(quoted[ipv6Src:]))
		ip := ipLayer(router, src, layers.IPProtocolICMPv6, 250)
		icmp := &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(layers.ICMPv6TypeDestinationUnreachable, code)}
		if err := icmp.SetNetworkLayerForChecksum(ip); err != nil {
			t.Fatal(err)
		}
		// ICMPv6 has 4 unused bytes before the quote that gopacket leaves to the payload.
		ls = []gopacket.SerializableLayer{ip.(gopacket.SerializableLayer), icmp, gopacket.Payload(append([]byte{0, 0, 0, 0}, quoted...))}
	}
	if eth {
		ls = append([]gopacket.SerializableLayer{ethLayer(router)}, ls...)
	}
	return serialize(t, ls...)
}

var templateConfigs = []TemplateConfig{
	{Src: prober4, Options: TCPOptions{WindowScale: -1}},
	{Src: prober4, Options: TCPOptions{MSS: 1460, SACKPermitted: true, Timestamps: true, TSval: 0xdeadbeef, WindowScale: 7}, TTL: 33, Window: 29200, IPID: IPIDCounter},
	{Src: prober4, Options: TCPOptions{MSS: 1400, SACKPermitted: true, WindowScale: 0}, IPID: IPIDRandom},
	{Src: prober4, Options: TCPOptions{Timestamps: true, WindowScale: -1}},
	{Src: prober6, Options: TCPOptions{WindowScale: -1}},
	{Src: prober6, Options: TCPOptions{MSS: 1440, SACKPermitted: true, Timestamps: true, TSval: 1, WindowScale: 14}, TTL: 255},
	{Src: prober6, Options: TCPOptions{SACKPermitted: true, WindowScale: 2}, Window: 1},
}

// wantOptions is the option list gopacket should decode from a SYN built with o.
func wantOptions(o TCPOptions) string {
	var s string
	if o.MSS != 0 {
		s += fmt.Sprintf("MSS:%d ", o.MSS)
	}
	if o.Timestamps {
		if o.SACKPermitted {
			s += "SACKPermitted "
		} else {
			s += "NOP NOP "
		}
		s += fmt.Sprintf("Timestamps:%d/0 ", o.TSval)
	} else if o.SACKPermitted {
		s += "NOP NOP SACKPermitted "
	}
	if o.WindowScale >= 0 {
		s += fmt.Sprintf("NOP WindowScale:%d ", o.WindowScale)
	}
	return s
}

func gotOptions(opts []layers.TCPOption) string {
	var s string
	for _, o := range opts {
		switch o.OptionType {
		case layers.TCPOptionKindMSS:
			s += fmt.Sprintf("MSS:%d ", binary.BigEndian.Uint16(o.OptionData))
		case layers.TCPOptionKindSACKPermitted:
			s += "SACKPermitted "
		case layers.TCPOptionKindNop:
			s += "NOP "
		case layers.TCPOptionKindTimestamps:
			s += fmt.Sprintf("Timestamps:%d/%d ", binary.BigEndian.Uint32(o.OptionData), binary.BigEndian.Uint32(o.OptionData[4:]))
		case layers.TCPOptionKindWindowScale:
			s += fmt.Sprintf("WindowScale:%d ", o.OptionData[0])
		default:
			s += fmt.Sprintf("kind%d ", o.OptionType)
		}
	}
	return s
}

// TestTemplateDecodesInGopacket: SYNs built by Template decode in gopacket
// with the requested fields, and gopacket computes the same checksums.
func TestTemplateDecodesInGopacket(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for ci, cfg := range templateConfigs {
		tmpl, err := NewTemplate(cfg)
		if err != nil {
			t.Fatalf("config %d: %v", ci, err)
		}
		buf := make([]byte, 128)
		seg := make([]byte, 128)
		for range 200 {
			var dst netip.Addr
			if cfg.Src.Is4() {
				dst = netip.AddrFrom4([4]byte{198, 18 + byte(rng.IntN(2)), byte(rng.Uint32()), byte(rng.Uint32())})
			} else {
				var a [16]byte
				binary.BigEndian.PutUint64(a[8:], rng.Uint64())
				a[0], a[1], a[2], a[3] = 0x20, 0x01, 0x0d, 0xb8
				dst = netip.AddrFrom16(a)
			}
			sport, dport, seq := uint16(rng.Uint32()), uint16(rng.Uint32()), rng.Uint32()
			switch rng.IntN(4) { // extremes of the incremental sums
			case 0:
				sport, dport, seq = 0xffff, 0xffff, 0xffffffff
			case 1:
				sport, dport, seq = 0, 0, 0
			}
			n := tmpl.FillPacket(buf, dst, sport, dport, seq)
			if n != tmpl.PacketLen() {
				t.Fatalf("FillPacket returned %d, PacketLen %d", n, tmpl.PacketLen())
			}
			pkt := buf[:n]
			first := layers.LayerTypeIPv4
			if cfg.Src.Is6() {
				first = layers.LayerTypeIPv6
			}
			p := gopacket.NewPacket(pkt, first, gopacket.Default)
			if el := p.ErrorLayer(); el != nil {
				t.Fatalf("gopacket cannot decode %x: %v", pkt, el.Error())
			}
			tcp, _ := p.Layer(layers.LayerTypeTCP).(*layers.TCP)
			if tcp == nil {
				t.Fatalf("gopacket found no TCP layer in %x", pkt)
			}
			wantTTL, wantWin := cfg.TTL, cfg.Window
			if wantTTL == 0 {
				wantTTL = DefaultTTL
			}
			if wantWin == 0 {
				wantWin = DefaultWindow
			}
			var nl gopacket.NetworkLayer
			switch ip := p.NetworkLayer().(type) {
			case *layers.IPv4:
				nl = ip
				if ip.TTL != wantTTL || ip.Flags != layers.IPv4DontFragment || ip.FragOffset != 0 || ip.IHL != 5 ||
					int(ip.Length) != n || ip.Protocol != layers.IPProtocolTCP || !bytes.Equal(ip.SrcIP, cfg.Src.AsSlice()) || !bytes.Equal(ip.DstIP, dst.AsSlice()) {
					t.Fatalf("IPv4 header fields wrong: %+v", ip)
				}
				if cfg.IPID == IPIDZero && ip.Id != 0 {
					t.Fatalf("IPIDZero sent ID %d", ip.Id)
				}
				// gopacket recomputes the header checksum on serializing.
				hdr := gopacket.NewSerializeBuffer()
				if err := ip.SerializeTo(hdr, gopacket.SerializeOptions{ComputeChecksums: true}); err != nil {
					t.Fatal(err)
				}
				if got, want := ip.Checksum, binary.BigEndian.Uint16(hdr.Bytes()[ipv4Checksum:]); got != want {
					t.Fatalf("IPv4 checksum %#04x, gopacket computes %#04x", got, want)
				}
			case *layers.IPv6:
				nl = ip
				if ip.HopLimit != wantTTL || ip.NextHeader != layers.IPProtocolTCP || int(ip.Length) != n-ipv6HeaderLen ||
					!bytes.Equal(ip.SrcIP, cfg.Src.AsSlice()) || !bytes.Equal(ip.DstIP, dst.AsSlice()) {
					t.Fatalf("IPv6 header fields wrong: %+v", ip)
				}
			default:
				t.Fatalf("network layer %T", ip)
			}
			if tcp.SrcPort != layers.TCPPort(sport) || tcp.DstPort != layers.TCPPort(dport) || tcp.Seq != seq || tcp.Ack != 0 ||
				!tcp.SYN || tcp.ACK || tcp.RST || tcp.FIN || tcp.PSH || tcp.URG || tcp.Window != wantWin || len(tcp.Payload) != 0 {
				t.Fatalf("TCP fields wrong: %+v", tcp)
			}
			if got, want := gotOptions(tcp.Options), wantOptions(cfg.Options); got != want {
				t.Fatalf("TCP options %q, want %q", got, want)
			}
			if err := tcp.SetNetworkLayerForChecksum(nl); err != nil {
				t.Fatal(err)
			}
			// gopacket's checksum over the received segment, checksum
			// field included, is 0 when the field is right...
			if v, err := tcp.ComputeChecksum(); err != nil || v != 0 {
				t.Fatalf("TCP checksum %#04x does not verify in gopacket (%#04x, %v)", tcp.Checksum, v, err)
			}
			// ...and re-serializing computes the same field.
			re := gopacket.NewSerializeBuffer()
			if err := tcp.SerializeTo(re, gopacket.SerializeOptions{ComputeChecksums: true}); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(re.Bytes(), pkt[n-tmpl.SegmentLen():]) {
				t.Fatalf("gopacket re-serializes the segment as %x, synack built %x", re.Bytes(), pkt[n-tmpl.SegmentLen():])
			}
			// The segment alone is the same bytes.
			if m := tmpl.FillSegment(seg, dst, sport, dport, seq); m != tmpl.SegmentLen() || !bytes.Equal(seg[:m], pkt[n-m:]) {
				t.Fatalf("FillSegment wrote %x, the packet's segment is %x", seg[:m], pkt[n-tmpl.SegmentLen():])
			}
		}
	}
}

type parsed struct {
	name  string
	frame []byte // Ethernet frame
	want  Reply
}

// gopacketReplies returns replies serialized by gopacket and the Reply
// Parse must decode from each.
func gopacketReplies(t testing.TB) []parsed {
	t.Helper()
	linuxOpts := []layers.TCPOption{
		{OptionType: layers.TCPOptionKindMSS, OptionLength: 4, OptionData: []byte{0x05, 0xb4}},
		{OptionType: layers.TCPOptionKindSACKPermitted, OptionLength: 2},
		{OptionType: layers.TCPOptionKindTimestamps, OptionLength: 10, OptionData: make([]byte, 8)},
		{OptionType: layers.TCPOptionKindNop},
		{OptionType: layers.TCPOptionKindWindowScale, OptionLength: 3, OptionData: []byte{7}},
	}
	var out []parsed
	for _, fam := range []struct{ prober, target, router netip.Addr }{{prober4, target4, router4}, {prober6, target6, router6}} {
		tcp := func(name string, flags uint8, opts []layers.TCPOption) {
			out = append(out, parsed{name + "/" + fam.target.String(),
				tcpReply(t, true, fam.target, fam.prober, 443, 40001, 0x11223344, 0xaabbccdd, flags, opts),
				Reply{Kind: KindSYNACK, Src: fam.target, Dst: fam.prober, SrcPort: 443, DstPort: 40001,
					Seq: 0x11223344, Ack: 0xaabbccdd, Flags: flags, TTL: 57}})
			if flags&FlagRST != 0 {
				out[len(out)-1].want.Kind = KindRST
			}
		}
		tcp("syn-ack", FlagSYN|FlagACK, nil)
		tcp("syn-ack-options", FlagSYN|FlagACK, linuxOpts)
		tcp("syn-ack-ece", FlagSYN|FlagACK|FlagECE, nil)
		tcp("rst-ack", FlagRST|FlagACK, nil)
		tcp("rst", FlagRST, nil)

		tmpl, err := NewTemplate(TemplateConfig{Src: fam.prober, Options: TCPOptions{MSS: 1460, WindowScale: -1}})
		if err != nil {
			t.Fatal(err)
		}
		syn := make([]byte, tmpl.PacketLen())
		tmpl.FillPacket(syn, fam.target, 40002, 8080, 0x01020304)
		for _, quote := range []struct {
			name string
			b    []byte
		}{{"whole", syn}, {"minimal", syn[:len(syn)-tmpl.SegmentLen()+8]}} {
			out = append(out, parsed{"unreachable-" + quote.name + "/" + fam.target.String(),
				unreachable(t, true, fam.router, quote.b, 3),
				Reply{Kind: KindUnreachable, Src: fam.router, Dst: fam.prober, TTL: 250, ICMPType: map[bool]uint8{true: 3, false: 1}[fam.router.Is4()], ICMPCode: 3,
					OrigSrc: fam.prober, OrigDst: fam.target, OrigSrcPort: 40002, OrigDstPort: 8080, OrigSeq: 0x01020304}})
		}
	}
	// IPv4 with options: the TCP header is found through IHL.
	ip := ipLayer(target4, prober4, layers.IPProtocolTCP, 57).(*layers.IPv4)
	ip.Options = []layers.IPv4Option{{OptionType: 7, OptionLength: 7, OptionData: []byte{4, 0, 0, 0, 0}}, {OptionType: 0, OptionLength: 1}} // record route
	tcp := &layers.TCP{SrcPort: 22, DstPort: 50000, Seq: 7, Ack: 8, SYN: true, ACK: true, Window: 1}
	_ = tcp.SetNetworkLayerForChecksum(ip)
	out = append(out, parsed{"ipv4-options-syn-ack", serialize(t, ethLayer(target4), ip, tcp),
		Reply{Kind: KindSYNACK, Src: target4, Dst: prober4, SrcPort: 22, DstPort: 50000, Seq: 7, Ack: 8, Flags: FlagSYN | FlagACK, TTL: 57}})
	if ihl := out[len(out)-1].frame[ethHeaderLen] & 0xf; ihl <= 5 {
		t.Fatalf("IPv4 options test packet has IHL %d", ihl)
	}
	return out
}

// TestParseGopacketReplies: replies serialized by gopacket parse to the same
// fields, framed as Ethernet and as bare IP, and (negative control) every
// truncation of them is rejected.
func TestParseGopacketReplies(t *testing.T) {
	for _, c := range gopacketReplies(t) {
		t.Run(c.name, func(t *testing.T) {
			var r Reply
			if err := Parse(c.frame, LinkEthernet, &r); err != nil {
				t.Fatalf("Parse ethernet: %v", err)
			}
			if r != c.want {
				t.Fatalf("Parse ethernet:\n got %+v\nwant %+v", r, c.want)
			}
			if err := Parse(c.frame[ethHeaderLen:], LinkIP, &r); err != nil || r != c.want {
				t.Fatalf("Parse ip: %v\n got %+v\nwant %+v", err, r, c.want)
			}
			// Ethernet padding after the IP packet is ignored.
			padded := append(append([]byte(nil), c.frame...), make([]byte, 32)...)
			if err := Parse(padded, LinkEthernet, &r); err != nil || r != c.want {
				t.Fatalf("Parse padded: %v\n got %+v\nwant %+v", err, r, c.want)
			}
			// Every frame cut short of the headers Parse reads (see
			// parseNeeds) is rejected as truncated (negative control);
			// cut anywhere after them, as a snap length cuts it, it
			// decodes to the same fields.
			need := parseNeeds(t, c.frame)
			for n := range len(c.frame) {
				err := Parse(c.frame[:n], LinkEthernet, &r)
				switch {
				case n < need && err != ErrTruncated:
					t.Fatalf("frame truncated to %d of %d bytes, short of the %d Parse reads: %v, %+v", n, len(c.frame), need, err, r)
				case n >= need && (err != nil || r != c.want):
					t.Fatalf("frame truncated to %d of %d bytes, keeping the %d Parse reads: %v\n got %+v\nwant %+v", n, len(c.frame), need, err, r, c.want)
				}
			}
		})
	}
}

// TestParseRejects: packets that are not replies are rejected with the
// documented error.
func TestParseRejects(t *testing.T) {
	synFrame := func(src netip.Addr) []byte {
		tmpl, err := NewTemplate(TemplateConfig{Src: src, Options: TCPOptions{WindowScale: -1}})
		if err != nil {
			t.Fatal(err)
		}
		dst := target4
		if src.Is6() {
			dst = target6
		}
		b := make([]byte, tmpl.PacketLen())
		tmpl.FillPacket(b, dst, 1, 2, 3)
		return append([]byte{2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00}, b...)
	}
	syn4, syn6 := synFrame(prober4), synFrame(prober6)
	syn6[12], syn6[13] = 0x86, 0xdd
	udp := func() []byte {
		ip := ipLayer(target4, prober4, layers.IPProtocolUDP, 64)
		u := &layers.UDP{SrcPort: 53, DstPort: 40000}
		_ = u.SetNetworkLayerForChecksum(ip)
		return serialize(t, ethLayer(target4), ip.(gopacket.SerializableLayer), u, gopacket.Payload("x"))
	}()
	arp := serialize(t, &layers.Ethernet{SrcMAC: testMACs[0], DstMAC: testMACs[1], EthernetType: layers.EthernetTypeARP},
		&layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4, HwAddressSize: 6, ProtAddressSize: 4,
			Operation: 1, SourceHwAddress: testMACs[0], SourceProtAddress: prober4.AsSlice(), DstHwAddress: make([]byte, 6), DstProtAddress: target4.AsSlice()})
	echo := serialize(t, ethLayer(target4), ipLayer(target4, prober4, layers.IPProtocolICMPv4, 64).(gopacket.SerializableLayer),
		&layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(layers.ICMPv4TypeEchoReply, 0)})
	frag := tcpReply(t, true, target4, prober4, 80, 40000, 1, 2, FlagSYN|FlagACK, nil)
	frag[ethHeaderLen+ipv4FlagsFrag] |= 0x20 // more fragments
	hbh := serialize(t, ethLayer(target6), ipLayer(target6, prober6, layers.IPProtocolIPv6HopByHop, 64).(gopacket.SerializableLayer),
		&layers.IPv6HopByHop{Options: []*layers.IPv6HopByHopOption{{OptionType: 1, OptionLength: 4, OptionData: make([]byte, 4)}}},
		gopacket.Payload(tcpReply(t, false, target6, prober6, 80, 40000, 1, 2, FlagSYN|FlagACK, nil)[ipv6HeaderLen:]))
	hbh[ethHeaderLen+ipv6HeaderLen] = protoTCP
	badIHL := tcpReply(t, true, target4, prober4, 80, 40000, 1, 2, FlagRST, nil)
	badIHL[ethHeaderLen] = 0x44
	badDoff := tcpReply(t, true, target4, prober4, 80, 40000, 1, 2, FlagRST, nil)
	badDoff[ethHeaderLen+ipv4MinLen+tcpDataOffset] = 0xf0
	versionMismatch := tcpReply(t, true, target4, prober4, 80, 40000, 1, 2, FlagRST, nil)
	versionMismatch[12], versionMismatch[13] = 0x86, 0xdd
	unreachUDP := unreachable(t, true, router4, udp[ethHeaderLen:], 3)

	for _, c := range []struct {
		name  string
		frame []byte
		link  LinkType
		want  error
	}{
		{"syn4", syn4, LinkEthernet, ErrNotReply},
		{"syn6", syn6, LinkEthernet, ErrNotReply},
		{"ack", tcpReply(t, true, target4, prober4, 80, 40000, 1, 2, FlagACK, nil), LinkEthernet, ErrNotReply},
		{"data", tcpReply(t, true, target6, prober6, 80, 40000, 1, 2, FlagACK|FlagPSH, nil), LinkEthernet, ErrNotReply},
		{"fin", tcpReply(t, true, target4, prober4, 80, 40000, 1, 2, FlagFIN|FlagACK, nil), LinkEthernet, ErrNotReply},
		{"syn-only-reply", tcpReply(t, true, target4, prober4, 80, 40000, 1, 2, FlagSYN, nil), LinkEthernet, ErrNotReply},
		{"udp", udp, LinkEthernet, ErrNotReply},
		{"echo-reply", echo, LinkEthernet, ErrNotReply},
		{"unreachable-quoting-udp", unreachUDP, LinkEthernet, ErrNotReply},
		{"arp", arp, LinkEthernet, ErrNotIP},
		{"ip-version-5", []byte{0x50, 0, 0, 0}, LinkIP, ErrNotIP},
		{"empty", nil, LinkIP, ErrTruncated},
		{"fragment", frag, LinkEthernet, ErrFragment},
		{"ipv6-hop-by-hop", hbh, LinkEthernet, ErrIPv6Extension},
		{"ihl-4", badIHL, LinkEthernet, ErrMalformed},
		{"data-offset-60", badDoff, LinkEthernet, ErrMalformed},
		{"ethertype-ipv6-version-4", versionMismatch, LinkEthernet, ErrMalformed},
		{"unknown-link", syn4, LinkType(0), ErrLinkType},
	} {
		var r Reply
		r.Kind = KindRST // must be cleared
		if err := Parse(c.frame, c.link, &r); !errors.Is(err, c.want) {
			t.Errorf("%s: Parse = %v, want %v", c.name, err, c.want)
		}
		if r.Kind != 0 && c.want != nil {
			t.Errorf("%s: rejected reply left Kind %v", c.name, r.Kind)
		}
	}
}

// parseNeeds returns how many bytes of an Ethernet frame (without VLAN
// tag) holding a TCP reply or an ICMP error quoting TCP Parse reads: the
// headers up to the first 20 bytes of TCP, or up to the first 8 bytes of
// the quoted TCP header. It reads the frame's own header lengths,
// independently of Parse.
func parseNeeds(t testing.TB, frame []byte) int {
	t.Helper()
	return ethHeaderLen + ipNeeds(t, frame[ethHeaderLen:])
}

// ipNeeds is parseNeeds for a frame that starts at the IP header.
func ipNeeds(t testing.TB, p []byte) int {
	t.Helper()
	ipLen := func(p []byte) int {
		if p[0]>>4 == 4 {
			return int(p[0]&0xf) * 4
		}
		return ipv6HeaderLen
	}
	hl := ipLen(p)
	proto := p[ipv4Protocol]
	if p[0]>>4 == 6 {
		proto = p[ipv6NextHeader]
	}
	switch proto {
	case protoTCP:
		return hl + tcpMinLen
	case protoICMP, protoICMPv6:
		return hl + icmpHeaderLen + ipLen(p[hl+icmpHeaderLen:]) + 8
	}
	t.Fatalf("parseNeeds: protocol %d", proto)
	return 0
}

// TestParseVLAN: one 802.1Q tag is skipped (documented); the same frame
// with the tag's EtherType made unknown is not IP.
func TestParseVLAN(t *testing.T) {
	plain := tcpReply(t, true, target4, prober4, 443, 40005, 1, 2, FlagSYN|FlagACK, nil)
	tagged := append(append(append([]byte(nil), plain[:12]...), 0x81, 0x00, 0x00, 0x05), plain[12:]...)
	var r, want Reply
	if err := Parse(plain, LinkEthernet, &want); err != nil {
		t.Fatal(err)
	}
	if err := Parse(tagged, LinkEthernet, &r); err != nil || r != want {
		t.Fatalf("tagged frame: %v, %+v, want %+v", err, r, want)
	}
	tagged[16], tagged[17] = 0x88, 0xa8 // a second tag (QinQ) is not followed
	if err := Parse(tagged, LinkEthernet, &r); err != ErrNotIP {
		t.Fatalf("double-tagged frame: %v, want %v", err, ErrNotIP)
	}
}
