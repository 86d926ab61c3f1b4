package synack

import (
	"errors"
	"fmt"
	"net/netip"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"golang.org/x/net/bpf"
)

type filterCase struct {
	name   string
	frame  []byte // Ethernet frame
	accept bool
}

// filterTable returns real packets, serialized by gopacket or synack, with
// whether Filter(link, 40000, 40010) must accept them.
func filterTable(t *testing.T) []filterCase {
	var cs []filterCase
	add := func(name string, frame []byte, accept bool) { cs = append(cs, filterCase{name, frame, accept}) }
	type fam struct{ prober, target, router netip.Addr }
	for _, fm := range []fam{{prober4, target4, router4}, {prober6, target6, router6}} {
		v := "v4"
		if fm.prober.Is6() {
			v = "v6"
		}
		tcp := func(dport uint16, flags uint8) []byte {
			return tcpReply(t, true, fm.target, fm.prober, 443, dport, 1, 2, flags, nil)
		}
		add(v+" syn-ack in range", tcp(40005, FlagSYN|FlagACK), true)
		add(v+" syn-ack at low end", tcp(40000, FlagSYN|FlagACK), true)
		add(v+" syn-ack at high end", tcp(40010, FlagSYN|FlagACK), true)
		add(v+" syn-ack+ece in range", tcp(40005, FlagSYN|FlagACK|FlagECE), true)
		add(v+" rst+ack in range", tcp(40005, FlagRST|FlagACK), true)
		add(v+" rst in range", tcp(40005, FlagRST), true)
		add(v+" syn-ack below range", tcp(39999, FlagSYN|FlagACK), false)
		add(v+" syn-ack above range", tcp(40011, FlagSYN|FlagACK), false)
		add(v+" rst above range", tcp(65535, FlagRST|FlagACK), false)
		add(v+" rst below range", tcp(0, FlagRST), false)
		add(v+" syn", tcp(40005, FlagSYN), false)
		add(v+" ack", tcp(40005, FlagACK), false)
		add(v+" data", tcp(40005, FlagACK|FlagPSH), false)
		add(v+" fin-ack", tcp(40005, FlagFIN|FlagACK), false)
		add(v+" no flags", tcp(40005, 0), false)

		tmpl, err := NewTemplate(TemplateConfig{Src: fm.prober, Options: TCPOptions{WindowScale: -1}})
		if err != nil {
			t.Fatal(err)
		}
		syn := make([]byte, tmpl.PacketLen())
		tmpl.FillPacket(syn, fm.target, 40005, 443, 7)
		add(v+" unreachable", unreachable(t, true, fm.router, syn, 1), true)
		add(v+" unreachable quoting 8 bytes of TCP", unreachable(t, true, fm.router, syn[:len(syn)-tmpl.SegmentLen()+8], 3), true)
		add(v+" unreachable quoting 1 byte of TCP", unreachable(t, true, fm.router, syn[:len(syn)-tmpl.SegmentLen()+1], 3), false)
		tmpl.FillPacket(syn, fm.target, 40010, 443, 7)
		add(v+" unreachable quoting the high end", unreachable(t, true, fm.router, syn, 3), true)
		tmpl.FillPacket(syn, fm.target, 40011, 40005, 7)
		add(v+" unreachable quoting a port above", unreachable(t, true, fm.router, syn, 3), false)
		tmpl.FillPacket(syn, fm.target, 39999, 40005, 7)
		add(v+" unreachable quoting a port below", unreachable(t, true, fm.router, syn, 3), false)
		qip := ipLayer(fm.prober, fm.target, layers.IPProtocolUDP, 64)
		qudp := &layers.UDP{SrcPort: 40005, DstPort: 53}
		_ = qudp.SetNetworkLayerForChecksum(qip)
		add(v+" unreachable quoting UDP", unreachable(t, true, fm.router, serialize(t, qip.(gopacket.SerializableLayer), qudp), 3), false)

		ipProto := layers.IPProtocolICMPv4
		var icmp gopacket.SerializableLayer = &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(layers.ICMPv4TypeEchoReply, 0)}
		if fm.prober.Is6() {
			ipProto = layers.IPProtocolICMPv6
			i6 := &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(layers.ICMPv6TypeEchoReply, 0)}
			_ = i6.SetNetworkLayerForChecksum(ipLayer(fm.target, fm.prober, ipProto, 64))
			icmp = i6
		}
		add(v+" echo reply", serialize(t, ethLayer(fm.target), ipLayer(fm.target, fm.prober, ipProto, 64).(gopacket.SerializableLayer), icmp, gopacket.Payload("ping")), false)
		ip := ipLayer(fm.target, fm.prober, layers.IPProtocolUDP, 64)
		udp := &layers.UDP{SrcPort: 443, DstPort: 40005}
		_ = udp.SetNetworkLayerForChecksum(ip)
		add(v+" udp to a port in range", serialize(t, ethLayer(fm.target), ip.(gopacket.SerializableLayer), udp, gopacket.Payload("0123456789abcdef")), false)
	}

	// IPv4 options: the TCP header moves; the filter follows IHL.
	for _, c := range []struct {
		dport  uint16
		flags  uint8
		accept bool
	}{{40005, FlagSYN | FlagACK, true}, {40011, FlagSYN | FlagACK, false}, {40005, FlagACK, false}, {40000, FlagRST, true}} {
		ip := ipLayer(target4, prober4, layers.IPProtocolTCP, 64).(*layers.IPv4)
		// Record route with room for four addresses: 20 bytes of options,
		// IHL 10, so fixed offsets would read the wrong bytes.
		ip.Options = []layers.IPv4Option{{OptionType: 7, OptionLength: 19, OptionData: append([]byte{4}, make([]byte, 16)...)}, {OptionType: 0, OptionLength: 1}}
		tcp := &layers.TCP{SrcPort: 443, DstPort: layers.TCPPort(c.dport), SYN: c.flags&FlagSYN != 0, ACK: c.flags&FlagACK != 0, RST: c.flags&FlagRST != 0}
		_ = tcp.SetNetworkLayerForChecksum(ip)
		add(fmt.Sprintf("v4 options port %d flags %#x", c.dport, c.flags), serialize(t, ethLayer(target4), ip, tcp), c.accept)
	}
	ip := ipLayer(router4, prober4, layers.IPProtocolICMPv4, 64).(*layers.IPv4)
	ip.Options = []layers.IPv4Option{{OptionType: 1, OptionLength: 1}, {OptionType: 1, OptionLength: 1}, {OptionType: 1, OptionLength: 1}, {OptionType: 0, OptionLength: 1}}
	quoted, _ := NewTemplate(TemplateConfig{Src: prober4, Options: TCPOptions{WindowScale: -1}})
	syn := make([]byte, quoted.PacketLen())
	quoted.FillPacket(syn, target4, 40005, 443, 7)
	add("v4 options unreachable", serialize(t, ethLayer(router4), ip,
		&layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(layers.ICMPv4TypeDestinationUnreachable, 3)}, gopacket.Payload(syn)), true)
	// Options in both the outer and the quoted IPv4 header.
	for _, c := range []struct {
		sport  uint16
		accept bool
	}{{40000, true}, {40011, false}} {
		q := ipLayer(prober4, target4, layers.IPProtocolTCP, 64).(*layers.IPv4)
		q.Options = []layers.IPv4Option{{OptionType: 7, OptionLength: 11, OptionData: append([]byte{4}, make([]byte, 8)...)}, {OptionType: 0, OptionLength: 1}}
		qtcp := &layers.TCP{SrcPort: layers.TCPPort(c.sport), DstPort: 443, SYN: true}
		_ = qtcp.SetNetworkLayerForChecksum(q)
		quote := serialize(t, q, qtcp)
		if quote[0]&0xf <= 5 {
			t.Fatalf("quoted header has IHL %d", quote[0]&0xf)
		}
		outer := ipLayer(router4, prober4, layers.IPProtocolICMPv4, 64).(*layers.IPv4)
		outer.Options = []layers.IPv4Option{{OptionType: 1, OptionLength: 1}, {OptionType: 1, OptionLength: 1}, {OptionType: 1, OptionLength: 1}, {OptionType: 0, OptionLength: 1}}
		add(fmt.Sprintf("v4 options unreachable quoting options, port %d", c.sport), serialize(t, ethLayer(router4), outer,
			&layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(layers.ICMPv4TypeDestinationUnreachable, 1)}, gopacket.Payload(quote)), c.accept)
	}
	ip = ipLayer(router4, prober4, layers.IPProtocolICMPv4, 64).(*layers.IPv4)
	ip.Options = []layers.IPv4Option{{OptionType: 1, OptionLength: 1}, {OptionType: 1, OptionLength: 1}, {OptionType: 1, OptionLength: 1}, {OptionType: 0, OptionLength: 1}}
	add("v4 options time exceeded", serialize(t, ethLayer(router4), ip,
		&layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(layers.ICMPv4TypeTimeExceeded, 0)}, gopacket.Payload(make([]byte, 28))), false)

	// Fragments.
	frag := tcpReply(t, true, target4, prober4, 443, 40005, 1, 2, FlagSYN|FlagACK, nil)
	frag[ethHeaderLen+ipv4FlagsFrag] |= 0x20 // first fragment: more fragments set
	add("v4 first fragment", frag, false)
	frag = tcpReply(t, true, target4, prober4, 443, 40005, 1, 2, FlagSYN|FlagACK, nil)
	frag[ethHeaderLen+ipv4FlagsFrag+1] = 3 // offset 24 bytes: "TCP" bytes are payload
	add("v4 later fragment", frag, false)

	// IPv6 extension header in front of an otherwise accepted segment.
	hbh := serialize(t, ethLayer(target6), ipLayer(target6, prober6, layers.IPProtocolIPv6HopByHop, 64).(gopacket.SerializableLayer),
		&layers.IPv6HopByHop{Options: []*layers.IPv6HopByHopOption{{OptionType: 1, OptionLength: 4, OptionData: make([]byte, 4)}}},
		gopacket.Payload(tcpReply(t, false, target6, prober6, 443, 40005, 1, 2, FlagSYN|FlagACK, nil)[ipv6HeaderLen:]))
	hbh[ethHeaderLen+ipv6HeaderLen] = protoTCP
	add("v6 hop-by-hop then syn-ack", hbh, false)

	// Not IP.
	add("arp", serialize(t, &layers.Ethernet{SrcMAC: testMACs[0], DstMAC: testMACs[1], EthernetType: layers.EthernetTypeARP},
		&layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4, HwAddressSize: 6, ProtAddressSize: 4,
			Operation: 1, SourceHwAddress: testMACs[0], SourceProtAddress: prober4.AsSlice(), DstHwAddress: make([]byte, 6), DstProtAddress: target4.AsSlice()}), false)
	vip := ipLayer(target4, prober4, layers.IPProtocolTCP, 64)
	vtcp := &layers.TCP{SrcPort: 443, DstPort: 40005, SYN: true, ACK: true}
	_ = vtcp.SetNetworkLayerForChecksum(vip)
	vlan := serialize(t, &layers.Ethernet{SrcMAC: testMACs[0], DstMAC: testMACs[1], EthernetType: layers.EthernetTypeDot1Q},
		&layers.Dot1Q{VLANIdentifier: 5, Type: layers.EthernetTypeIPv4}, vip.(gopacket.SerializableLayer), vtcp)
	add("vlan-tagged syn-ack (documented: rejected)", vlan, false)
	return cs
}

// TestFilterVM runs the Filter programs in x/net/bpf's VM over the table, for
// Ethernet frames and for the same packets without the link header.
func TestFilterVM(t *testing.T) {
	table := filterTable(t)
	for _, link := range []LinkType{LinkEthernet, LinkIP} {
		prog, err := Filter(link, 40000, 40010)
		if err != nil {
			t.Fatal(err)
		}
		vm, err := bpf.NewVM(prog)
		if err != nil {
			t.Fatalf("%v: bpf.NewVM: %v", link, err)
		}
		if _, err := bpf.Assemble(prog); err != nil {
			t.Fatalf("%v: bpf.Assemble: %v", link, err)
		}
		accepted, checked := 0, 0
		for _, c := range table {
			frame := c.frame
			if link == LinkIP {
				if frame[12] != 0x08 && frame[12] != 0x86 || frame[13] != 0x00 && frame[13] != 0xdd {
					continue // not IP: no SOCK_DGRAM equivalent
				}
				frame = frame[ethHeaderLen:]
			}
			checked++
			n, err := vm.Run(frame)
			if err != nil {
				t.Fatalf("%v %s: vm.Run: %v", link, c.name, err)
			}
			if got := n != 0; got != c.accept {
				t.Errorf("%v %s: filter returned %d, want accept=%v", link, c.name, n, c.accept)
			}
			if n != 0 {
				accepted++
				if n != FilterSnapLen {
					t.Errorf("%v %s: accepted with snap length %d, want %d", link, c.name, n, FilterSnapLen)
				}
			}
		}
		t.Logf("%v: %d packets, %d accepted", link, checked, accepted)
	}
}

// TestFilterAgreesWithParse: what the filter accepts, Parse decodes (with a
// destination port in range for TCP).
func TestFilterAgreesWithParse(t *testing.T) {
	prog, _ := Filter(LinkEthernet, 40000, 40010)
	vm, err := bpf.NewVM(prog)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range filterTable(t) {
		n, _ := vm.Run(c.frame)
		var r Reply
		err := Parse(c.frame, LinkEthernet, &r)
		if n != 0 && err != nil {
			t.Errorf("%s: filter accepts, Parse says %v", c.name, err)
		}
		port := r.DstPort
		if r.Kind == KindUnreachable {
			port = r.OrigSrcPort
		}
		inRange := port >= 40000 && port <= 40010
		if n != 0 && err == nil && !inRange {
			t.Errorf("%s: filter accepted port %d", c.name, port)
		}
		vlan := c.frame[12] == 0x81 && c.frame[13] == 0
		if n == 0 && err == nil && inRange && !vlan {
			t.Errorf("%s: Parse decodes %v for port %d, filter rejects it", c.name, r.Kind, port)
		}
	}
}

func TestFilterErrors(t *testing.T) {
	for name, f := range map[string]func() ([]bpf.Instruction, error){
		"reversed range": func() ([]bpf.Instruction, error) { return Filter(LinkEthernet, 2, 1) },
		"unknown link":   func() ([]bpf.Instruction, error) { return Filter(LinkType(9), 1, 2) },
	} {
		if prog, err := f(); err == nil || prog != nil || !errors.Is(err, ErrFilter) {
			t.Errorf("%s: Filter = %d instructions, %v", name, len(prog), err)
		} else {
			t.Logf("%s: %v", name, err)
		}
	}
	// Full range and single port are fine.
	for _, r := range [][2]uint16{{0, 65535}, {80, 80}} {
		if _, err := Filter(LinkIP, r[0], r[1]); err != nil {
			t.Errorf("range %v: %v", r, err)
		}
	}
}
