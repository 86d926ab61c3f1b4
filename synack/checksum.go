package synack

import "encoding/binary"

// Sum adds b to initial as a sequence of big-endian 16-bit words in
// one's-complement arithmetic (RFC 1071) and returns the unfolded sum. An odd
// final byte is treated as the high byte of a word padded with zero, so only
// the last chunk of a chained computation may have an odd length.
func Sum(b []byte, initial uint32) uint32 {
	s := uint64(initial)
	for len(b) >= 8 {
		s += uint64(binary.BigEndian.Uint32(b)) + uint64(binary.BigEndian.Uint32(b[4:]))
		b = b[8:]
	}
	if len(b) >= 4 {
		s += uint64(binary.BigEndian.Uint32(b))
		b = b[4:]
	}
	if len(b) >= 2 {
		s += uint64(binary.BigEndian.Uint16(b))
		b = b[2:]
	}
	if len(b) == 1 {
		s += uint64(b[0]) << 8
	}
	// Adding 32-bit words keeps the one's-complement sum modulo 0xffff;
	// end-around carries bring it back to 32 bits without changing it.
	s = s>>32 + s&0xffffffff
	s = s>>32 + s&0xffffffff
	return uint32(s)
}

// Fold folds the carries of sum into 16 bits and complements the result,
// giving the value of an IP, TCP or ICMP checksum field.
func Fold(sum uint32) uint16 {
	sum = sum>>16 + sum&0xffff
	sum = sum>>16 + sum&0xffff
	return ^uint16(sum)
}

// Checksum returns the Internet checksum of b: Fold(Sum(b, 0)).
func Checksum(b []byte) uint16 { return Fold(Sum(b, 0)) }

// UpdateChecksum16 returns checksum check after a 16-bit word covered by it
// changed from old to new, using RFC 1624 equation 3:
// HC' = ~(~HC + ~m + m'). It equals a recomputation except when every byte
// covered becomes zero, where it gives 0x0000 and a recomputation 0xffff,
// the two one's-complement zeros; both verify.
func UpdateChecksum16(check, old, new uint16) uint16 {
	return Fold(uint32(^check) + uint32(^old) + uint32(new))
}

// UpdateChecksum32 returns checksum check after a 32-bit word (two aligned
// 16-bit words) covered by it changed from old to new, as UpdateChecksum16
// does for each half.
func UpdateChecksum32(check uint16, old, new uint32) uint16 {
	return Fold(uint32(^check) + uint32(^uint16(old>>16)) + uint32(^uint16(old)) +
		uint32(uint16(new>>16)) + uint32(uint16(new)))
}

// pseudoHeaderSum returns the unfolded sum of the TCP pseudo-header (RFC 793
// for IPv4, RFC 8200 section 8.1 for IPv6) for a segment of length n. Source
// and destination must be of the same family.
func pseudoHeaderSum(src, dst []byte, proto uint8, n int) uint32 {
	return Sum(dst, Sum(src, uint32(proto)+uint32(n>>16)+uint32(n&0xffff)))
}

// fold16 folds the carries of sum into 16 bits without complementing, so that
// small values can be added to the result without overflowing 32 bits.
func fold16(sum uint32) uint32 {
	sum = sum>>16 + sum&0xffff
	return sum>>16 + sum&0xffff
}
