package rawcheck

import (
	crand "crypto/rand"
	"encoding/binary"
	"fmt"
	"math/bits"
	"math/rand/v2"
)

// Bounds of the memory of finished probes, in slots of 8 bytes.
const (
	minRecentSlots = 1 << 16
	maxRecentSlots = 1 << 22
)

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
// table indexed by a keyed hash of the probe's 4-tuple, four slots per
// probe the engine may have in flight: a later probe of a colliding tuple
// overwrites the slot, and a late reply to the earlier one then counts as
// invalid, never as a result. Nothing is allocated per probe. A
// nonceSource is guarded by the engine's mu.
type nonceSource struct {
	rng  *rand.ChaCha8
	seed uint64
	// recent holds, per slot, the nonce of the last probe finished there
	// (high 32 bits; 0 = none) and how many late replies it may still
	// have (low bits).
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

// next returns a new nonce, never 0 (0 marks an empty memory slot).
func (n *nonceSource) next() uint32 {
	for {
		if v := uint32(n.rng.Uint64()); v != 0 {
			return v
		}
	}
}

// slot returns the memory slot of probe key k: the address and the ports
// are mixed in as separate words, so that no two keys of one scan collide
// by construction (an IPv4 address and the ports folded into one word
// would, wherever their XORs agree).
func (n *nonceSource) slot(k *probeKey) uint32 {
	a := binary.LittleEndian.Uint64(k.addr[0:8])
	b := binary.LittleEndian.Uint64(k.addr[8:16])
	c := uint64(k.port) | uint64(k.sport)<<16
	h1, l1 := bits.Mul64(a^n.seed, 0xa0761d6478bd642f)
	h2, l2 := bits.Mul64(b^h1^l1, 0xe7037ed1a0b428db)
	h3, l3 := bits.Mul64(c^h2^l2^n.seed, 0x8ebc6af09c88c6e3)
	return uint32(h3^l3) & n.mask
}

// finished remembers the nonce of a probe that ends after attempts SYNs.
// It may have as many late replies: one per SYN beyond the one that
// answered, and one SYN-ACK the target sent again.
func (n *nonceSource) finished(k *probeKey, nonce uint32, attempts uint8) {
	n.recent[n.slot(k)] = uint64(nonce)<<32 | uint64(attempts)
}

// remembered returns the nonce remembered for k's slot, 0 for none.
func (n *nonceSource) remembered(k *probeKey) uint32 { return uint32(n.recent[n.slot(k)] >> 32) }

// late reports whether a reply to k carrying nonce is a late reply to the
// last probe of k that finished, and counts it: a finished probe has at
// most as many late replies as it sent SYNs, so a reply replayed over and
// over counts as late that often at most and as invalid after that, and
// cannot drive the loss estimate down.
func (n *nonceSource) late(k *probeKey, nonce uint32) bool {
	s := n.slot(k)
	v := n.recent[s]
	if nonce == 0 || uint32(v>>32) != nonce || uint32(v) == 0 {
		return false
	}
	n.recent[s] = v - 1
	return true
}
