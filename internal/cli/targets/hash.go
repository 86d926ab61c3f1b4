package targets

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"slices"
)

// Hash identifies the set's endpoints: the SHA-256, in hex, of its blocks
// (address range and ports) sorted, so that the same targets given in
// another order, or under another seed or shard, hash alike, and two runs'
// statistics can be told to be of the same set. Host names are not part of
// it: a name is hashed as the address it resolved to.
func (s *Set) Hash() string {
	enc := s.encodeBlocks()
	slices.SortFunc(enc, bytes.Compare)
	return hashBlocks(enc, nil)
}

// WalkHash identifies what Walk(seed, sh, ...) yields at each position:
// the SHA-256, in hex, of the set's blocks in their order (which, unlike
// Hash, the walk depends on), the seed and the shard. A resumed walk is
// the interrupted one's continuation only if their WalkHash agree.
func (s *Set) WalkHash(seed uint64, sh Shard) string {
	sh = sh.normal()
	var tail []byte
	tail = binary.BigEndian.AppendUint64(tail, seed)
	tail = binary.BigEndian.AppendUint64(tail, sh.Index)
	tail = binary.BigEndian.AppendUint64(tail, sh.Count)
	return hashBlocks(s.encodeBlocks(), tail)
}

// encodeBlocks returns each block's range and ports as bytes, in order.
func (s *Set) encodeBlocks() [][]byte {
	enc := make([][]byte, 0, len(s.blocks))
	for _, blk := range s.blocks {
		var b []byte
		if blk.is4 {
			b = append(b, 4)
		} else {
			b = append(b, 6)
		}
		b = binary.BigEndian.AppendUint64(b, blk.first.hi)
		b = binary.BigEndian.AppendUint64(b, blk.first.lo)
		b = binary.BigEndian.AppendUint64(b, blk.last.hi)
		b = binary.BigEndian.AppendUint64(b, blk.last.lo)
		for _, r := range blk.ports.ranges {
			b = binary.BigEndian.AppendUint16(b, r.first)
			b = binary.BigEndian.AppendUint16(b, r.last)
		}
		enc = append(enc, b)
	}
	return enc
}

// hashBlocks hashes the length-prefixed encodings and then tail.
func hashBlocks(enc [][]byte, tail []byte) string {
	h := sha256.New()
	for _, b := range enc {
		var n [4]byte
		binary.BigEndian.PutUint32(n[:], uint32(len(b)))
		h.Write(n[:])
		h.Write(b)
	}
	h.Write(tail)
	return hex.EncodeToString(h.Sum(nil))
}
