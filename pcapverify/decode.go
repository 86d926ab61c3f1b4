package pcapverify

import (
	"encoding/binary"
	"net/netip"
)

// TCP header flags, as Segment.Flags holds them.
const (
	FlagFIN = 0x01
	FlagSYN = 0x02
	FlagRST = 0x04
	FlagPSH = 0x08
	FlagACK = 0x10
	FlagURG = 0x20
)

// Offsets and constants of the headers the decoder reads. They are written
// out here rather than taken from package synack: the decoder checks what
// synack puts on the wire, so it must not share synack's mistakes.
const (
	ethHeaderLen   = 14
	ethTypeOffset  = 12
	ethTypeIPv4    = 0x0800
	ethTypeIPv6    = 0x86dd
	ethTypeVLAN    = 0x8100
	ipv4MinLen     = 20
	ipv6HeaderLen  = 40
	tcpMinLen      = 20
	protoTCP       = 6
	protoICMPv4    = 1
	protoICMPv6    = 58
	icmpHeaderLen  = 8
	icmpv4Unreach  = 3
	icmpv6Unreach  = 1
	tcpFlagsOffset = 13
)

// Segment is what the decoder reads from one captured frame: a TCP
// segment, or an ICMP or ICMPv6 destination unreachable quoting the start
// of one.
type Segment struct {
	// Src and Dst are the segment's source and destination. For a quote
	// they are the quoted segment's (the prober's SYN), so Src is the
	// prober whichever way the ICMP error travelled.
	Src, Dst netip.AddrPort
	// Seq and Ack are the sequence and acknowledgement numbers; a quote
	// has only Seq.
	Seq, Ack uint32
	// Flags are the TCP flags (FlagSYN, FlagACK, ...); zero for a quote.
	Flags uint8
	// Payload is the TCP payload length the IP header states (not what
	// the capture kept); zero for a quote.
	Payload int
	// Quoted is true for an ICMP (IPv4) or ICMPv6 (IPv6, Src.Addr().Is6())
	// destination unreachable quoting a TCP segment; ICMPType and ICMPCode
	// are then its type and code, ICMPSource the address that sent it.
	Quoted             bool
	ICMPType, ICMPCode uint8
	ICMPSource         netip.Addr
}

// IsSYN reports whether s opens a handshake: a TCP segment with SYN set
// and neither ACK nor RST (a quote never is).
func (s Segment) IsSYN() bool {
	return !s.Quoted && s.Flags&(FlagSYN|FlagACK|FlagRST) == FlagSYN
}

// DecodeEthernet decodes an Ethernet frame (with or without one 802.1Q
// tag) holding IPv4 or IPv6; ok is false for frames that are neither TCP
// nor an ICMP destination unreachable quoting TCP (ARP, neighbour
// discovery, other ICMP, IPv4 fragments after the first, IPv6 with
// extension headers) and for truncated ones. It does not allocate.
func DecodeEthernet(frame []byte) (s Segment, ok bool) {
	b := frame
	if len(b) < ethHeaderLen {
		return s, false
	}
	et := binary.BigEndian.Uint16(b[ethTypeOffset:])
	b = b[ethHeaderLen:]
	if et == ethTypeVLAN && len(b) >= 4 {
		et = binary.BigEndian.Uint16(b[2:])
		b = b[4:]
	}
	switch et {
	case ethTypeIPv4, ethTypeIPv6:
		return DecodeIP(b)
	}
	return s, false
}

// Linux cooked capture headers (tcpdump -i any): v1 is 16 bytes with the
// protocol (an EtherType) last; v2 is 20 bytes with it first.
const (
	sllHeaderLen    = 16
	sllProtoOffset  = 14
	sll2HeaderLen   = 20
	sll2ProtoOffset = 0
	loopbackHdrLen  = 4
)

// decodeSLL decodes a Linux cooked capture (v1) frame.
func decodeSLL(frame []byte) (Segment, bool) {
	return decodeCooked(frame, sllHeaderLen, sllProtoOffset)
}

// decodeSLL2 decodes a Linux cooked capture v2 frame.
func decodeSLL2(frame []byte) (Segment, bool) {
	return decodeCooked(frame, sll2HeaderLen, sll2ProtoOffset)
}

func decodeCooked(frame []byte, hlen, protoOff int) (s Segment, ok bool) {
	if len(frame) < hlen {
		return s, false
	}
	switch binary.BigEndian.Uint16(frame[protoOff:]) {
	case ethTypeIPv4, ethTypeIPv6:
		return DecodeIP(frame[hlen:])
	}
	return s, false
}

// decodeLoopback decodes a BSD loopback frame: a 4-byte address family in
// the capturing host's byte order (AF_INET6 differs between systems, so
// the IP version nibble decides).
func decodeLoopback(frame []byte) (s Segment, ok bool) {
	if len(frame) < loopbackHdrLen {
		return s, false
	}
	return DecodeIP(frame[loopbackHdrLen:])
}

// DecodeIP decodes an IPv4 or IPv6 packet (by its version nibble), as
// DecodeEthernet does the packet in a frame.
func DecodeIP(b []byte) (s Segment, ok bool) {
	if len(b) < 1 {
		return s, false
	}
	switch b[0] >> 4 {
	case 4:
		return decodeIPv4(b)
	case 6:
		return decodeIPv6(b)
	}
	return s, false
}

// ipv4 reads the parts of an IPv4 header the decoder uses: addresses,
// protocol, header length and the length of the payload as the header
// states it.
func ipv4(b []byte) (src, dst netip.Addr, proto uint8, hlen, plen int, ok bool) {
	if len(b) < ipv4MinLen || b[0]>>4 != 4 {
		return
	}
	hlen = int(b[0]&0x0f) * 4
	total := int(binary.BigEndian.Uint16(b[2:]))
	if hlen < ipv4MinLen || len(b) < hlen || total < hlen {
		return
	}
	if binary.BigEndian.Uint16(b[6:])&0x1fff != 0 {
		return // not the first fragment
	}
	src = netip.AddrFrom4([4]byte(b[12:16]))
	dst = netip.AddrFrom4([4]byte(b[16:20]))
	return src, dst, b[9], hlen, total - hlen, true
}

// ipv6 reads the same from an IPv6 header without extension headers.
func ipv6(b []byte) (src, dst netip.Addr, proto uint8, plen int, ok bool) {
	if len(b) < ipv6HeaderLen || b[0]>>4 != 6 {
		return
	}
	src = netip.AddrFrom16([16]byte(b[8:24]))
	dst = netip.AddrFrom16([16]byte(b[24:40]))
	return src, dst, b[6], int(binary.BigEndian.Uint16(b[4:])), true
}

func decodeIPv4(b []byte) (s Segment, ok bool) {
	src, dst, proto, hlen, plen, ok := ipv4(b)
	if !ok {
		return s, false
	}
	switch proto {
	case protoTCP:
		return decodeTCP(b[hlen:], src, dst, plen)
	case protoICMPv4:
		icmp := b[hlen:]
		if len(icmp) < icmpHeaderLen || icmp[0] != icmpv4Unreach {
			return s, false
		}
		qsrc, qdst, qproto, qhlen, _, ok := ipv4(icmp[icmpHeaderLen:])
		if !ok || qproto != protoTCP {
			return s, false
		}
		return quotedTCP(icmp[icmpHeaderLen+qhlen:], qsrc, qdst, icmp[0], icmp[1], src)
	}
	return s, false
}

func decodeIPv6(b []byte) (s Segment, ok bool) {
	src, dst, proto, plen, ok := ipv6(b)
	if !ok {
		return s, false
	}
	switch proto {
	case protoTCP:
		return decodeTCP(b[ipv6HeaderLen:], src, dst, plen)
	case protoICMPv6:
		icmp := b[ipv6HeaderLen:]
		if len(icmp) < icmpHeaderLen || icmp[0] != icmpv6Unreach {
			return s, false
		}
		qsrc, qdst, qproto, _, ok := ipv6(icmp[icmpHeaderLen:])
		if !ok || qproto != protoTCP {
			return s, false
		}
		return quotedTCP(icmp[icmpHeaderLen+ipv6HeaderLen:], qsrc, qdst, icmp[0], icmp[1], src)
	}
	return s, false
}

// decodeTCP decodes a TCP header; plen is the IP payload length.
func decodeTCP(b []byte, src, dst netip.Addr, plen int) (s Segment, ok bool) {
	if len(b) < tcpMinLen {
		return s, false
	}
	doff := int(b[12]>>4) * 4
	if doff < tcpMinLen || plen < doff {
		return s, false
	}
	s.Src = netip.AddrPortFrom(src, binary.BigEndian.Uint16(b[0:]))
	s.Dst = netip.AddrPortFrom(dst, binary.BigEndian.Uint16(b[2:]))
	s.Seq = binary.BigEndian.Uint32(b[4:])
	s.Ack = binary.BigEndian.Uint32(b[8:])
	s.Flags = b[tcpFlagsOffset]
	s.Payload = plen - doff
	return s, true
}

// quotedTCP decodes the first 8 bytes of a TCP header quoted in an ICMP
// error (ports and sequence number are all an ICMP error must carry).
func quotedTCP(b []byte, src, dst netip.Addr, typ, code uint8, from netip.Addr) (s Segment, ok bool) {
	if len(b) < 8 {
		return s, false
	}
	s.Src = netip.AddrPortFrom(src, binary.BigEndian.Uint16(b[0:]))
	s.Dst = netip.AddrPortFrom(dst, binary.BigEndian.Uint16(b[2:]))
	s.Seq = binary.BigEndian.Uint32(b[4:])
	s.Quoted, s.ICMPType, s.ICMPCode, s.ICMPSource = true, typ, code, from
	return s, true
}
