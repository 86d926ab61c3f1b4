package synack

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"net/netip"

	"github.com/dchest/siphash"
)

// CookieKey is the secret key of the SYN cookies of one engine: the initial
// sequence number of each SYN is a keyed hash of its addresses and ports, so
// that a reply can be recognised as the answer to one of our SYNs without
// keeping state and cannot be forged by an off-path host.
type CookieKey struct{ K0, K1 uint64 }

// NewCookieKey returns a key read from crypto/rand.
func NewCookieKey() (CookieKey, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return CookieKey{}, fmt.Errorf("synack: reading a cookie key: %w", err)
	}
	return CookieKey{binary.LittleEndian.Uint64(b[:]), binary.LittleEndian.Uint64(b[8:])}, nil
}

// Cookie returns the initial sequence number of the SYN from src:srcPort
// (the prober) to dst:dstPort (the target): the low 32 bits of SipHash-2-4
// keyed by k over a fixed-size buffer. When both addresses are IPv4 (or
// IPv4-mapped IPv6) the buffer is their 4-byte forms followed by the two
// ports, big-endian, 12 bytes; otherwise it is their 16-byte forms and the
// ports, 36 bytes. Zones are ignored.
func (k CookieKey) Cookie(src, dst netip.Addr, srcPort, dstPort uint16) uint32 {
	if src.Unmap().Is4() && dst.Unmap().Is4() {
		var b [12]byte
		s, d := src.Unmap().As4(), dst.Unmap().As4()
		copy(b[0:4], s[:])
		copy(b[4:8], d[:])
		binary.BigEndian.PutUint16(b[8:], srcPort)
		binary.BigEndian.PutUint16(b[10:], dstPort)
		return uint32(siphash.Hash(k.K0, k.K1, b[:]))
	}
	var b [36]byte
	s, d := src.As16(), dst.As16()
	copy(b[0:16], s[:])
	copy(b[16:32], d[:])
	binary.BigEndian.PutUint16(b[32:], srcPort)
	binary.BigEndian.PutUint16(b[34:], dstPort)
	return uint32(siphash.Hash(k.K0, k.K1, b[:]))
}

// Validate reports whether r answers a SYN whose sequence number was made by
// Cookie with key k. A SYN-ACK, and a RST that has the ACK flag (as every RST
// answering a SYN has, RFC 9293 section 3.10.7.1), validate when r.Ack is the
// cookie plus one; an ICMP or ICMPv6 error validates when the quoted
// sequence number is the cookie itself.
func (k CookieKey) Validate(r *Reply) bool {
	switch r.Kind {
	case KindSYNACK, KindRST:
		if r.Flags&FlagACK == 0 {
			return false
		}
		return r.Ack == k.Cookie(r.Dst, r.Src, r.DstPort, r.SrcPort)+1
	case KindUnreachable:
		return r.OrigSeq == k.Cookie(r.OrigSrc, r.OrigDst, r.OrigSrcPort, r.OrigDstPort)
	}
	return false
}
