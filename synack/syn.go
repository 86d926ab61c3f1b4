package synack

import "net/netip"

// SYN is a TCP SYN as ParseSYN reads it back: the fields a Template fills
// in per probe.
type SYN struct {
	// Src and Dst are the prober's and the target's addresses.
	Src, Dst netip.Addr
	// SrcPort and DstPort are the prober's and the target's TCP ports.
	SrcPort, DstPort uint16
	// Seq is the SYN's sequence number.
	Seq uint32
}

// ParseSYN reads back a SYN such as Template.FillPacket writes: a whole IP
// packet, IPv4 (any header length, not a fragment) or IPv6 with TCP as
// its next header, carrying a TCP segment with SYN set and ACK clear. It
// reports false if packet is anything else or shorter than its headers
// claim; bytes beyond the IP packet's length are ignored. It checks no
// checksum, never reads beyond packet and allocates nothing.
func ParseSYN(packet []byte) (SYN, bool) {
	var s SYN
	var seg []byte
	if len(packet) == 0 {
		return SYN{}, false
	}
	switch packet[0] >> 4 {
	case 4:
		if len(packet) < ipv4MinLen {
			return SYN{}, false
		}
		ip := ipv4Header(packet)
		hl, tl := ip.headerLen(), ip.totalLen()
		if hl < ipv4MinLen || tl < hl || tl > len(packet) || ip.isFragment() || ip.protocol() != protoTCP {
			return SYN{}, false
		}
		s.Src, s.Dst = ip.src(), ip.dst()
		seg = packet[hl:tl]
	case 6:
		if len(packet) < ipv6HeaderLen {
			return SYN{}, false
		}
		ip := ipv6Header(packet)
		end := ipv6HeaderLen + ip.payloadLen()
		if end > len(packet) || ip.nextHeader() != protoTCP {
			return SYN{}, false
		}
		s.Src, s.Dst = ip.src(), ip.dst()
		seg = packet[ipv6HeaderLen:end]
	default:
		return SYN{}, false
	}
	if len(seg) < tcpMinLen {
		return SYN{}, false
	}
	tcp := tcpHeader(seg)
	if hl := tcp.headerLen(); hl < tcpMinLen || hl > len(seg) || tcp.flags()&(FlagSYN|FlagACK) != FlagSYN {
		return SYN{}, false
	}
	s.SrcPort, s.DstPort, s.Seq = tcp.srcPort(), tcp.dstPort(), tcp.seq()
	return s, true
}
