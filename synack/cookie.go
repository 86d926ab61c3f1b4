package synack

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"math/bits"
	"net/netip"
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
// keyed by k over a fixed-size message. When both addresses are IPv4 (or
// IPv4-mapped IPv6) the message is their 4-byte forms followed by the two
// ports, big-endian, 12 bytes; otherwise it is their 16-byte forms (an IPv4
// address mapped) and the ports, 36 bytes. Zones are ignored.
//
// The hash is computed on 64-bit words loaded from the addresses rather than
// through a byte buffer, which halves its cost; tests check it against
// github.com/dchest/siphash over the message bytes.
func (k CookieKey) Cookie(src, dst netip.Addr, srcPort, dstPort uint16) uint32 {
	// The ports as the last bytes of the message, little-endian words as
	// SipHash reads them.
	ports := uint64(bits.ReverseBytes16(srcPort)) | uint64(bits.ReverseBytes16(dstPort))<<16
	if !src.Is4() || !dst.Is4() {
		src, dst = src.Unmap(), dst.Unmap()
	}
	if src.Is4() && dst.Is4() {
		s, d := src.As4(), dst.As4()
		m := uint64(binary.LittleEndian.Uint32(s[:])) | uint64(binary.LittleEndian.Uint32(d[:]))<<32
		return uint32(sipHash12(k.K0, k.K1, m, ports))
	}
	s, d := src.As16(), dst.As16()
	return uint32(sipHash36(k.K0, k.K1,
		binary.LittleEndian.Uint64(s[:8]), binary.LittleEndian.Uint64(s[8:]),
		binary.LittleEndian.Uint64(d[:8]), binary.LittleEndian.Uint64(d[8:]), ports))
}

// SipHash-2-4 (Aumasson and Bernstein, 2012) for messages of fixed length.

// sipInit returns the initial state for key k0, k1.
func sipInit(k0, k1 uint64) (v0, v1, v2, v3 uint64) {
	return k0 ^ 0x736f6d6570736575, k1 ^ 0x646f72616e646f6d, k0 ^ 0x6c7967656e657261, k1 ^ 0x7465646279746573
}

// sipRound is one SipRound.
func sipRound(v0, v1, v2, v3 uint64) (uint64, uint64, uint64, uint64) {
	v0 += v1
	v1 = bits.RotateLeft64(v1, 13) ^ v0
	v0 = bits.RotateLeft64(v0, 32)
	v2 += v3
	v3 = bits.RotateLeft64(v3, 16) ^ v2
	v0 += v3
	v3 = bits.RotateLeft64(v3, 21) ^ v0
	v2 += v1
	v1 = bits.RotateLeft64(v1, 17) ^ v2
	v2 = bits.RotateLeft64(v2, 32)
	return v0, v1, v2, v3
}

// sipHash12 hashes a 12-byte message: one 8-byte word m and 4 bytes tail.
// The rounds are written out so that the compiler inlines every one.
func sipHash12(k0, k1, m, tail uint64) uint64 {
	v0, v1, v2, v3 := sipInit(k0, k1)
	v3 ^= m // compress m
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	v0 ^= m
	b := 12<<56 | tail // compress the last block: tail and length
	v3 ^= b
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	v0 ^= b
	v2 ^= 0xff // finalize
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	return v0 ^ v1 ^ v2 ^ v3
}

// sipHash36 hashes a 36-byte message: four 8-byte words and 4 bytes tail.
func sipHash36(k0, k1, m0, m1, m2, m3, tail uint64) uint64 {
	v0, v1, v2, v3 := sipInit(k0, k1)
	v3 ^= m0
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	v0 ^= m0
	v3 ^= m1
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	v0 ^= m1
	v3 ^= m2
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	v0 ^= m2
	v3 ^= m3
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	v0 ^= m3
	b := 36<<56 | tail // the last block: tail and length
	v3 ^= b
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	v0 ^= b
	v2 ^= 0xff // finalize
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	return v0 ^ v1 ^ v2 ^ v3
}

// Sequence returns the initial sequence number of a SYN of one probe: the
// cookie of its addresses and ports XOR nonce, a secret the prober draws
// for each probe and keeps while the probe is pending. The cookie alone is
// fixed for the key's life, so a reply recorded once (on the path, or in a
// capture) would validate again for every later probe of the same
// addresses and ports; the nonce makes each probe's sequence number
// unpredictable, so such a reply answers only the probe it was made for.
// A nonce of 0 gives the bare cookie.
func (k CookieKey) Sequence(src, dst netip.Addr, srcPort, dstPort uint16, nonce uint32) uint32 {
	return k.Cookie(src, dst, srcPort, dstPort) ^ nonce
}

// Nonce returns the nonce that r carries if it answers a SYN whose
// sequence number was made by Sequence with key k: the acknowledged
// sequence number less one (SYN-ACK, and a RST with the ACK flag), or the
// quoted sequence number (ICMP and ICMPv6 errors), XOR the cookie of the
// probe's addresses and ports. ok is false for a reply that cannot answer
// a SYN (a RST without ACK, or a kind that is not a reply). The reply
// answers the probe only if the nonce is the one the prober drew for it,
// which only the prober can check.
func (k CookieKey) Nonce(r *Reply) (nonce uint32, ok bool) {
	switch r.Kind {
	case KindSYNACK, KindRST:
		if r.Flags&FlagACK == 0 {
			return 0, false
		}
		return (r.Ack - 1) ^ k.Cookie(r.Dst, r.Src, r.DstPort, r.SrcPort), true
	case KindUnreachable:
		return r.OrigSeq ^ k.Cookie(r.OrigSrc, r.OrigDst, r.OrigSrcPort, r.OrigDstPort), true
	}
	return 0, false
}

// Validate reports whether r answers a SYN whose sequence number was made by
// Cookie with key k, that is by Sequence with nonce 0: whether r carries the
// nonce 0 (see Nonce). A SYN-ACK, and a RST that has the ACK flag (as every
// RST answering a SYN has, RFC 9293 section 3.10.7.1), validate when r.Ack is
// the cookie plus one; an ICMP or ICMPv6 error validates when the quoted
// sequence number is the cookie itself.
func (k CookieKey) Validate(r *Reply) bool {
	nonce, ok := k.Nonce(r)
	return ok && nonce == 0
}
