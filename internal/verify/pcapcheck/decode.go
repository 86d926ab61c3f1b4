package pcapcheck

import (
	"encoding/binary"
	"net/netip"
)

// Offsets and constants of the headers the analyzer reads.
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
	tcpFlagFIN     = 0x01
	tcpFlagSYN     = 0x02
	tcpFlagRST     = 0x04
	tcpFlagACK     = 0x10
	tcpFlagsOffset = 13
)

// segment is what the analyzer needs from one captured frame: a TCP
// segment, or an ICMP destination-unreachable quoting one (then quoted is
// true and src/dst are the quoted segment's, i.e. the prober's SYN).
type segment struct {
	src, dst   netip.AddrPort
	seq, ack   uint32
	flags      uint8
	payload    int // TCP payload length from the IP header, not the capture
	quoted     bool
	icmpType   uint8
	icmpCode   uint8
	icmpSource netip.Addr // who sent the ICMP error
}

// decodeEthernet decodes an Ethernet frame; ok is false for frames that are
// neither TCP nor an ICMP unreachable quoting TCP (ARP, NDP, ...).
func decodeEthernet(b []byte) (s segment, ok bool) {
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
		return decodeIP(b)
	}
	return s, false
}

// decodeIP decodes an IPv4 or IPv6 packet (by its version nibble).
func decodeIP(b []byte) (s segment, ok bool) {
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

// ipv4 reads the parts of an IPv4 header the analyzer uses: addresses,
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

func decodeIPv4(b []byte) (s segment, ok bool) {
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

func decodeIPv6(b []byte) (s segment, ok bool) {
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
func decodeTCP(b []byte, src, dst netip.Addr, plen int) (s segment, ok bool) {
	if len(b) < tcpMinLen {
		return s, false
	}
	doff := int(b[12]>>4) * 4
	if doff < tcpMinLen || plen < doff {
		return s, false
	}
	s.src = netip.AddrPortFrom(src, binary.BigEndian.Uint16(b[0:]))
	s.dst = netip.AddrPortFrom(dst, binary.BigEndian.Uint16(b[2:]))
	s.seq = binary.BigEndian.Uint32(b[4:])
	s.ack = binary.BigEndian.Uint32(b[8:])
	s.flags = b[tcpFlagsOffset]
	s.payload = plen - doff
	return s, true
}

// quotedTCP decodes the first 8 bytes of a TCP header quoted in an ICMP
// error (ports and sequence number are all an ICMP error must carry).
func quotedTCP(b []byte, src, dst netip.Addr, typ, code uint8, from netip.Addr) (s segment, ok bool) {
	if len(b) < 8 {
		return s, false
	}
	s.src = netip.AddrPortFrom(src, binary.BigEndian.Uint16(b[0:]))
	s.dst = netip.AddrPortFrom(dst, binary.BigEndian.Uint16(b[2:]))
	s.seq = binary.BigEndian.Uint32(b[4:])
	s.quoted, s.icmpType, s.icmpCode, s.icmpSource = true, typ, code, from
	return s, true
}
