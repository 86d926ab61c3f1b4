package rawcheck

import (
	crand "crypto/rand"
	"encoding/binary"
	"fmt"
	"math/bits"
	"math/rand/v2"
)

// recentNonces is the number of finished probes whose nonce is remembered
// (a power of two): 256 KiB.
const recentNonces = 1 << 16

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
// finished) from a forgery, so the loss estimate still counts late
// replies, and a flood of forged packets does not pass for them (see
// late). The memory
// is a table indexed by a keyed hash of the probe's 4-tuple: a later probe
// of a colliding tuple overwrites the slot, and a late reply to the earlier
// one then counts as invalid, never as a result. Nothing is allocated per
// probe. A nonceSource is guarded by the engine's mu.
type nonceSource struct {
	rng    *rand.ChaCha8
	seed   uint64
	recent []uint32 // nonce of the last probe finished in each slot; 0 = none
}

// newNonceSource returns a source seeded from crypto/rand.
func newNonceSource() (*nonceSource, error) {
	var seed [40]byte
	if _, err := crand.Read(seed[:]); err != nil {
		return nil, fmt.Errorf("rawcheck: reading a nonce seed: %w", err)
	}
	return &nonceSource{
		rng:    rand.NewChaCha8([32]byte(seed[:32])),
		seed:   binary.LittleEndian.Uint64(seed[32:]),
		recent: make([]uint32, recentNonces),
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

// slot returns the memory slot of probe key k.
func (n *nonceSource) slot(k *probeKey) uint32 {
	a := binary.LittleEndian.Uint64(k.addr[0:8])
	b := binary.LittleEndian.Uint64(k.addr[8:16]) ^ uint64(k.port)<<32 ^ uint64(k.sport)<<48
	h1, l1 := bits.Mul64(a^n.seed, 0xa0761d6478bd642f)
	h2, l2 := bits.Mul64(b^n.seed^h1^l1, 0xe7037ed1a0b428db)
	return uint32(h2^l2) & (recentNonces - 1)
}

// finished remembers the nonce of a probe that ends.
func (n *nonceSource) finished(k *probeKey, nonce uint32) { n.recent[n.slot(k)] = nonce }

// late reports whether a reply to k carrying nonce answers the last
// probe of k that finished, and forgets that probe: one late reply counts
// per finished probe, so a reply replayed over and over counts as late
// once and as invalid after that, and cannot drive the loss estimate
// down. A genuine second duplicate then counts as invalid too, which only
// makes the loss estimate, and so the attempts, higher.
func (n *nonceSource) late(k *probeKey, nonce uint32) bool {
	s := n.slot(k)
	if nonce == 0 || n.recent[s] != nonce {
		return false
	}
	n.recent[s] = 0
	return true
}
