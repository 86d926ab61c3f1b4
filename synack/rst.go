package synack

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// RST lengths written by BuildRST: an IP header and a 20-byte TCP header.
const (
	RSTLenIPv4 = ipv4MinLen + tcpMinLen
	RSTLenIPv6 = ipv6HeaderLen + tcpMinLen
)

// ErrBuildRST is wrapped by the errors BuildRST returns.
var ErrBuildRST = errors.New("synack: cannot build RST")

// BuildRST writes into buf the whole IP packet of the RST that answers the
// SYN-ACK r, as Linux answers a SYN-ACK it has no connection for (RFC 9293
// section 3.10.7.1): from r.Dst:r.DstPort to r.Src:r.SrcPort, sequence
// number r.Ack, acknowledgment 0, flags RST only, window 0, no options, TTL
// or hop limit 64, IPv4 with Don't Fragment and identification 0, checksums
// computed. It returns the length written (RSTLenIPv4 or RSTLenIPv6), or an
// error wrapping ErrBuildRST, writing nothing, if r is not a SYN-ACK, its
// addresses are not of one family, or buf is too short.
func BuildRST(buf []byte, r *Reply) (int, error) {
	if r.Kind != KindSYNACK {
		return 0, fmt.Errorf("%w: reply is %v, not %v", ErrBuildRST, r.Kind, KindSYNACK)
	}
	src, dst := r.Dst, r.Src
	var n, ipLen int
	var pseudo uint32
	switch {
	case src.Is4() && dst.Is4():
		n, ipLen = RSTLenIPv4, ipv4MinLen
	case src.Is6() && dst.Is6():
		n, ipLen = RSTLenIPv6, ipv6HeaderLen
	default:
		return 0, fmt.Errorf("%w: addresses %v and %v are not both IPv4 or both IPv6", ErrBuildRST, src, dst)
	}
	if len(buf) < n {
		return 0, fmt.Errorf("%w: buffer of %d bytes is shorter than %d", ErrBuildRST, len(buf), n)
	}
	pkt := buf[:n]
	clear(pkt)
	if ipLen == ipv4MinLen {
		s, d := src.As4(), dst.As4()
		pkt[ipv4VersionIHL] = 4<<4 | ipv4MinLen/4
		binary.BigEndian.PutUint16(pkt[ipv4TotalLen:], uint16(n))
		binary.BigEndian.PutUint16(pkt[ipv4FlagsFrag:], ipv4FlagDF)
		pkt[ipv4TTL] = DefaultTTL
		pkt[ipv4Protocol] = protoTCP
		copy(pkt[ipv4Src:], s[:])
		copy(pkt[ipv4Dst:], d[:])
		binary.BigEndian.PutUint16(pkt[ipv4Checksum:], Checksum(pkt[:ipv4MinLen]))
		pseudo = pseudoHeaderSum(s[:], d[:], protoTCP, tcpMinLen)
	} else {
		s, d := src.As16(), dst.As16()
		pkt[0] = 6 << 4
		binary.BigEndian.PutUint16(pkt[ipv6PayloadLen:], tcpMinLen)
		pkt[ipv6NextHeader] = protoTCP
		pkt[ipv6HopLimit] = DefaultTTL
		copy(pkt[ipv6Src:], s[:])
		copy(pkt[ipv6Dst:], d[:])
		pseudo = pseudoHeaderSum(s[:], d[:], protoTCP, tcpMinLen)
	}
	seg := pkt[ipLen:]
	binary.BigEndian.PutUint16(seg[tcpSrcPort:], r.DstPort)
	binary.BigEndian.PutUint16(seg[tcpDstPort:], r.SrcPort)
	binary.BigEndian.PutUint32(seg[tcpSeq:], r.Ack)
	seg[tcpDataOffset] = tcpMinLen / 4 << 4
	seg[tcpFlags] = FlagRST
	binary.BigEndian.PutUint16(seg[tcpChecksum:], Fold(Sum(seg, pseudo)))
	return n, nil
}
