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
	slices.SortFunc(enc, bytes.Compare)
	h := sha256.New()
	for _, b := range enc {
		var n [4]byte
		binary.BigEndian.PutUint32(n[:], uint32(len(b)))
		h.Write(n[:])
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil))
}
