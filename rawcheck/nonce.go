package rawcheck

import (
	crand "crypto/rand"
	"encoding/binary"
	"fmt"
	"math/bits"
	"math/rand/v2"
	"unsafe"
)

// Bounds of the memory of finished probes, in slots of 8 bytes.
const (
	minRecentSlots = 1 << 16
	maxRecentSlots = 1 << 22
)

// sweepBit marks a nonce as a Sweep's, its other 31 bits the number of
// the SYN's batch (see sweepState). The nonces of the pending table's
// probes have it clear (nonceSource.next).
const sweepBit = 1 << 31

// nonceSource draws the per-probe nonces XORed into the SYN cookies
// (synack.CookieKey.Sequence) and remembers the nonces of recently
// finished probes.
//
// The nonce makes a reply valid for one probe only, so a reply is checked
// in two steps: the receiver recovers the nonce it carries without a lock
// (synack.CookieKey.Nonce), and the match compares it with the pending
// probe's. A reply whose probe is no longer pending would then be
// indistinguishable from a forged one; the memory of finished probes tells
// a late reply (a duplicate, or the answer to an attempt of a probe already
// finished) from a forgery, so the loss estimate still counts late replies
// and a flood of forged packets does not pass for them. The memory is a
// table of two-slot buckets indexed by a keyed hash of the probe's
// 4-tuple, four slots per probe the engine may have in flight: when two
// later probes finished in its bucket, a probe is forgotten, and a late
// reply to it then counts as invalid, never as a result. Nothing is allocated per probe. A
// nonceSource is guarded by the engine's mu.
type nonceSource struct {
	rng  *rand.ChaCha8
	seed uint64
	// recent holds, per slot, the nonce of a probe finished in its
	// bucket, its key's tag and how many late replies it may still have
	// (see slotTag).
	recent []uint64
	mask   uint32
}

// newNonceSource returns a source seeded from crypto/rand whose memory
// suits a window of probes in flight.
func newNonceSource(window int) (*nonceSource, error) {
	var seed [40]byte
	if _, err := crand.Read(seed[:]); err != nil {
		return nil, fmt.Errorf("rawcheck: reading a nonce seed: %w", err)
	}
	slots := 1 << bits.Len(uint(min(max(4*window, minRecentSlots), maxRecentSlots)-1))
	return &nonceSource{
		rng:    rand.NewChaCha8([32]byte(seed[:32])),
		seed:   binary.LittleEndian.Uint64(seed[32:]),
		recent: make([]uint64, slots),
		mask:   uint32(slots - 1),
	}, nil
}

// next returns a new nonce, never 0 (0 marks an empty memory slot), with
// sweepBit clear: set, it marks a Sweep's nonce.
func (n *nonceSource) next() uint32 {
	for {
		if v := uint32(n.rng.Uint64()) &^ sweepBit; v != 0 {
			return v
		}
	}
}

// bucket returns the memory bucket of probe key k (the index of its first
// slot) and k's tag, which tells k's slots from those of other keys in the
// bucket, both from hashKey.
func (n *nonceSource) bucket(k *probeKey) (uint32, uint64) {
	h := hashKey(k, n.seed)
	return uint32(h) & n.mask &^ 1, h >> 40 << 8 // tag: 24 bits above the credits
}

// A slot is nonce<<32 | tag (24 bits) << 8 | credits (8 bits); 0 is empty.
const (
	slotCredits = 0xff
	slotTag     = 0xffffff00
)

// finished remembers the nonce of a probe that ends after attempts SYNs.
// It may have as many late replies as it sent SYNs: one per SYN beyond the
// one that answered, and one more, a SYN-ACK the target sent again. Each
// bucket holds the last two probes finished in it, newest first, so a late
// reply is lost only when two later probes finished in its bucket.
func (n *nonceSource) finished(k *probeKey, nonce uint32, attempts uint8) {
	b, tag := n.bucket(k)
	v := uint64(nonce)<<32 | tag | uint64(min(int(attempts), slotCredits))
	if n.recent[b]&slotTag != tag {
		n.recent[b+1] = n.recent[b]
	}
	n.recent[b] = v
}

// prefetch brings k's memory bucket into the cache ahead of its use (see
// prefetch).
func (n *nonceSource) prefetch(k *probeKey) {
	b, _ := n.bucket(k)
	prefetch(unsafe.Pointer(&n.recent[b]))
}

// remembered returns the nonce remembered for k, 0 for none.
func (n *nonceSource) remembered(k *probeKey) uint32 {
	b, tag := n.bucket(k)
	for _, v := range n.recent[b : b+2] {
		if v != 0 && v&slotTag == tag {
			return uint32(v >> 32)
		}
	}
	return 0
}

// late reports whether a reply to k carrying nonce is a late reply to the
// last probe of k that finished, and counts it: a finished probe has at
// most as many late replies as it sent SYNs, so a reply replayed over and
// over counts as late that often at most and as invalid after that, and
// cannot drive the loss estimate down.
func (n *nonceSource) late(k *probeKey, nonce uint32) bool {
	if nonce == 0 {
		return false
	}
	b, tag := n.bucket(k)
	for i := b; i < b+2; i++ {
		v := n.recent[i]
		if uint32(v>>32) == nonce && v&slotTag == tag && v&slotCredits != 0 {
			n.recent[i] = v - 1
			return true
		}
	}
	return false
}
