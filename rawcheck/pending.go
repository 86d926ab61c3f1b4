package rawcheck

import (
	"encoding/binary"
	"math/bits"
	"net/netip"
	"unsafe"
)

// probeKey identifies a pending probe: the target and the source port its
// SYN left from. A reply names both, so it finds its probe with one lookup.
type probeKey struct {
	addr  [16]byte // target address; IPv4 as IPv4-mapped IPv6
	port  uint16   // target port
	sport uint16   // our source port
}

// keyOf returns the key of a probe of target from source port sport.
func keyOf(target netip.AddrPort, sport uint16) probeKey {
	return probeKey{addr: target.Addr().As16(), port: target.Port(), sport: sport}
}

// target returns the target address and port of k.
func (k probeKey) target() netip.AddrPort {
	return netip.AddrPortFrom(netip.AddrFrom16(k.addr).Unmap(), k.port)
}

// pendingProbe is one probe in flight: 56 bytes, kept in a dense slice.
type pendingProbe struct {
	key      probeKey
	attempts uint8 // SYNs sent so far
	class    uint8 // timeout class of the latest attempt
	// provisional: the timeout was chosen before the target's prefix had
	// an RTT estimate; the expiry loop checks again when it is due.
	provisional bool
	// bufferRefusals counts the SYNs of this probe the kernel refused
	// for want of buffers (engine.settleRefused).
	bufferRefusals uint8
	session        uint32 // who waits for the result
	route          uint32 // index of the route (source address, template) used
	sentAt         int64  // engine clock (ns) of the latest attempt
	prev           uint32 // expiry list links: entry index + 1, 0 = none
	next           uint32 // also links the free list
	// nonce is XORed into the cookie of every attempt of this probe
	// (synack.CookieKey.Sequence): drawn at insert, kept by
	// retransmissions, so a reply to any attempt matches, and a reply
	// recorded from an earlier probe of the same 4-tuple does not.
	nonce uint32
	// hash is key's keyHash: its home slot and index tag, kept so that
	// removing the entry or growing the table hashes nothing again.
	hash uint32
}

// maxTimeoutClasses bounds the number of timeout classes (class is a
// uint8).
const maxTimeoutClasses = 256

// pendingTable holds the probes in flight: a dense slice of entries, an
// open-addressing index (linear probing, backward-shift deletion) keyed by
// probeKey, and one expiry list per timeout class.
//
// An index slot holds the entry's index + 1 in its low idxBits bits;
// above them, how far the slot is from the key's home slot (distBits bits,
// saturating at distMax), and above that a tag: other bits of the key's
// hash. Probing then reads only the entries whose distance and tag match
// its key's, and deletion finds the home of the keys it shifts from their
// distance: each entry read is a likely cache miss once the table outgrows
// the caches, and there were one or two per insert and removal. A
// saturated distance only means the entry is read.
type pendingTable struct {
	entries  []pendingProbe
	index    []uint32 // entry index + 1 | distance from home << idxBits | tag << tagShift; 0 = empty; len is a power of two
	mask     uint32
	idxBits  uint32 // bits of an index slot holding the entry index + 1
	distMax  uint32 // largest distance a slot holds; it means "at least"
	distMask uint32 // of the distance's bits, before the shift
	tagShift uint32 // idxBits + the distance's bits
	tagMask  uint32 // of a tag, before the shift
	// distLimit caps distMax (tests lower it to exercise saturation).
	distLimit uint32
	seed      uint64
	free      uint32 // free list head: entry index + 1
	// hwm is the number of entries ever used: those past it are free
	// too, and never written, so a table sized for a large window costs
	// resident memory only for the probes it has held at once (the
	// kernel maps an untouched page only when it is written).
	hwm      uint32
	used     int // entries in use
	timeouts []int64
	head     [maxTimeoutClasses]uint32 // expiry lists, oldest first: entry index + 1
	tail     [maxTimeoutClasses]uint32
	inUse    [maxTimeoutClasses / 64]uint64 // bit c: list c is not empty
}

// newPendingTable returns a table for capacity probes; it grows if needed.
// timeouts are the classes' timeouts in ns (at most maxTimeoutClasses);
// none means one class with timeout 0.
func newPendingTable(capacity int, seed uint64, timeouts ...int64) *pendingTable {
	t := &pendingTable{seed: seed, timeouts: timeouts, distLimit: ^uint32(0)}
	if len(timeouts) == 0 {
		t.timeouts = []int64{0}
	}
	t.timeouts = t.timeouts[:min(len(t.timeouts), maxTimeoutClasses)]
	t.resize(max(capacity, 16))
	return t
}

// resize makes room for capacity entries, keeping the ones in use.
func (t *pendingTable) resize(capacity int) {
	old := t.entries
	t.entries = make([]pendingProbe, capacity)
	copy(t.entries, old[:t.hwm])
	size := 1 << bits.Len(uint(2*capacity-1)) // >= 2*capacity: load <= 1/2
	t.index = make([]uint32, size)
	t.mask = uint32(size - 1)
	t.idxBits = uint32(bits.Len(uint(capacity)))
	// Linear probing at load 1/2 rarely goes 15 slots from home; the rest
	// of the slot is tag.
	distBits := min(4, 32-t.idxBits)
	t.distMask = 1<<distBits - 1
	t.distMax = min(t.distMask, t.distLimit)
	t.tagShift = t.idxBits + distBits
	t.tagMask = 0
	if t.tagShift < 32 {
		t.tagMask = 1<<(32-t.tagShift) - 1
	}
	// The new entries are free past hwm; the index is rebuilt.
	if t.used == 0 {
		return
	}
	for c := range t.head {
		for i := t.head[c]; i != 0; i = t.entries[i-1].next {
			t.place(i)
		}
	}
}

// keyHash returns the 32 bits of k's hash the table uses: the low ones
// give its home slot (home), the high ones its index tag (tag). At most
// 29 of them are used, so the two never overlap.
func (t *pendingTable) keyHash(k *probeKey) uint32 { return uint32(hashKey(k, t.seed) >> 32) }

// home returns the home slot of a key whose keyHash is h.
func (t *pendingTable) home(h uint32) uint32 { return h & t.mask }

// tag returns the index tag of a key whose keyHash is h.
func (t *pendingTable) tag(h uint32) uint32 { return h >> t.tagShift & t.tagMask }

// hashKey returns a keyed 64-bit hash of k, for the pending table's index
// and the memory of finished probes (nonceSource). The address's two
// halves and the ports are mixed in as three words, each through its own
// multiplication, so that no two keys of one scan collide by
// construction: with the ports XORed into the word holding an IPv4
// address, every target whose low address bits XOR its source port to the
// same value would, and such runs make long clusters.
func hashKey(k *probeKey, seed uint64) uint64 {
	a := binary.LittleEndian.Uint64(k.addr[0:8])
	b := binary.LittleEndian.Uint64(k.addr[8:16])
	c := uint64(k.port) | uint64(k.sport)<<16
	h1, l1 := bits.Mul64(a^seed, 0xa0761d6478bd642f)
	h2, l2 := bits.Mul64(b^h1^l1, 0xe7037ed1a0b428db)
	h3, l3 := bits.Mul64(c^h2^l2^seed, 0x8ebc6af09c88c6e3)
	return h3 ^ l3
}

// slot returns what an index slot holds for entry i (index + 1) at
// distance d from its home, with tag tag.
func (t *pendingTable) slot(i, d, tag uint32) uint32 {
	return i | min(d, t.distMax)<<t.idxBits | tag<<t.tagShift
}

// entryOf returns the entry (index + 1) an index slot value v names.
func (t *pendingTable) entryOf(v uint32) uint32 { return v & (1<<t.idxBits - 1) }

// tagOf returns the tag of index slot value v.
func (t *pendingTable) tagOf(v uint32) uint32 { return v >> t.tagShift & t.tagMask }

// homeOf returns the home slot of the entry held at slot s as v.
func (t *pendingTable) homeOf(s, v uint32) uint32 {
	if d := v >> t.idxBits & t.distMask; d < t.distMax {
		return (s - d) & t.mask
	}
	return t.home(t.entries[t.entryOf(v)-1].hash)
}

// place puts entry i+1 (already filled) into the index.
func (t *pendingTable) place(i uint32) {
	h := t.entries[i-1].hash
	s, tag := t.home(h), t.tag(h)
	d := uint32(0)
	for t.index[s] != 0 {
		s, d = (s+1)&t.mask, d+1
	}
	t.index[s] = t.slot(i, d, tag)
}

// find probes for k, whose home is h and tag tag: the entry (index + 1)
// holding k, or 0 and the empty slot where k would go and its distance
// from h.
func (t *pendingTable) find(k *probeKey, h, tag uint32) (i, s, d uint32) {
	s = h
	for {
		v := t.index[s]
		if v == 0 {
			return 0, s, d
		}
		// Only a slot at k's own distance (or a saturated one) can hold
		// a key with k's home: only those with k's tag are read.
		if v>>t.idxBits == min(d, t.distMax)|tag<<(t.tagShift-t.idxBits) {
			if i := t.entryOf(v); t.entries[i-1].key == *k {
				return i, s, d
			}
		}
		s, d = (s+1)&t.mask, d+1
	}
}

// lookup returns the index (+1) of the probe with key k, or 0.
func (t *pendingTable) lookup(k probeKey) uint32 {
	h := t.keyHash(&k)
	i, _, _ := t.find(&k, t.home(h), t.tag(h))
	return i
}

// insert adds a probe with key k, sent now with timeout class class, at the
// end of that class's expiry list. It returns the entry (index + 1), or 0 if
// k is already pending.
func (t *pendingTable) insert(k probeKey, session, route uint32, now int64, class uint8) uint32 {
	return t.insertHashed(k, t.keyHash(&k), session, route, now, class)
}

// insertHashed is insert of k whose keyHash is h.
func (t *pendingTable) insertHashed(k probeKey, h, session, route uint32, now int64, class uint8) uint32 {
	i, s, d := t.find(&k, t.home(h), t.tag(h))
	if i != 0 {
		return 0
	}
	if t.free == 0 && int(t.hwm) == len(t.entries) {
		t.resize(2 * len(t.entries))
		_, s, d = t.find(&k, t.home(h), t.tag(h))
	}
	if i = t.free; i != 0 {
		t.free = t.entries[i-1].next
	} else {
		t.hwm++
		i = t.hwm
	}
	e := &t.entries[i-1]
	*e = pendingProbe{key: k, attempts: 1, class: t.clampClass(class), session: session, route: route, sentAt: now, hash: h}
	t.index[s] = t.slot(i, d, t.tag(h))
	t.used++
	t.pushBack(i)
	return i
}

// at returns entry i (index + 1).
func (t *pendingTable) at(i uint32) *pendingProbe { return &t.entries[i-1] }

// remove deletes entry i (index + 1) from the index and the expiry list.
func (t *pendingTable) remove(i uint32) {
	t.unlink(i)
	t.drop(i)
}

// prefetch brings the index slot where the probing of a key whose keyHash
// is h starts into the cache ahead of its use (see prefetch).
func (t *pendingTable) prefetch(h uint32) { prefetch(unsafe.Pointer(&t.index[t.home(h)])) }

// drop deletes entry i (index + 1), already unlinked from its expiry list,
// from the index, and frees it.
func (t *pendingTable) drop(i uint32) {
	e := &t.entries[i-1]
	// Find its slot, then shift later members of the cluster back.
	s := t.home(e.hash)
	for t.entryOf(t.index[s]) != i {
		s = (s + 1) & t.mask
	}
	for {
		t.index[s] = 0
		n := s
		for {
			n = (n + 1) & t.mask
			v := t.index[n]
			if v == 0 {
				goto shifted
			}
			h := t.homeOf(n, v)
			// It may move to s if its home h is not in (s, n].
			if (n-h)&t.mask >= (n-s)&t.mask {
				t.index[s] = t.slot(t.entryOf(v), (s-h)&t.mask, t.tagOf(v))
				s = n
				break
			}
		}
	}
shifted:
	e.next = t.free
	t.free = i
	t.used--
}

// touch records a new attempt of entry i sent now with timeout class
// class: it moves to the end of that class's expiry list.
func (t *pendingTable) touch(i uint32, now int64, class uint8) {
	t.unlink(i)
	e := &t.entries[i-1]
	e.sentAt = now
	e.attempts++
	e.class = t.clampClass(class)
	t.pushBack(i)
}

// removeSession removes every entry of session id, calling removed with
// each just before it goes: O(pending), for the end of a Scan with probes
// still pending.
func (t *pendingTable) removeSession(id uint32, removed func(*pendingProbe)) {
	for c := range t.head {
		for i := t.head[c]; i != 0; {
			next := t.entries[i-1].next
			if t.entries[i-1].session == id {
				removed(&t.entries[i-1])
				t.remove(i)
			}
			i = next
		}
	}
}

// requeue moves entry i to the end of class class's expiry list, its
// latest attempt's send time unchanged: the engine's second look at a
// timeout chosen without an RTT estimate. Its deadline is then
// sentAt + the class's timeout; behind entries appended earlier it is
// reached at most (now - sentAt) later than that, since they were sent no
// later than now.
func (t *pendingTable) requeue(i uint32, class uint8) {
	t.unlink(i)
	t.entries[i-1].class = t.clampClass(class)
	t.pushBack(i)
}

// clampClass maps class to a class the table has.
func (t *pendingTable) clampClass(class uint8) uint8 {
	return uint8(min(int(class), len(t.timeouts)-1))
}

// deadline returns when entry i's latest attempt times out (engine clock).
func (t *pendingTable) deadline(i uint32) int64 {
	e := &t.entries[i-1]
	return e.sentAt + t.timeouts[e.class]
}

// next returns the entry (index + 1) whose latest attempt times out first
// and its deadline, or 0 if none is pending. It looks at the head of each
// class in use only.
func (t *pendingTable) next() (uint32, int64) {
	var first uint32
	var due int64
	for w, bitsLeft := range t.inUse {
		for ; bitsLeft != 0; bitsLeft &= bitsLeft - 1 {
			c := w*64 + bits.TrailingZeros64(bitsLeft)
			i := t.head[c]
			if d := t.deadline(i); first == 0 || d < due {
				first, due = i, d
			}
		}
	}
	return first, due
}

// len returns the number of probes pending.
func (t *pendingTable) len() int { return t.used }

// bytesPerProbe is the memory the table needs per pending probe when full:
// the entry plus its share of the index.
func (t *pendingTable) bytesPerProbe() float64 {
	return float64(len(t.entries)*entrySize+len(t.index)*4) / float64(len(t.entries))
}

// pushBack appends entry i to the end of its class's expiry list.
func (t *pendingTable) pushBack(i uint32) {
	e := &t.entries[i-1]
	c := e.class
	e.prev, e.next = t.tail[c], 0
	if t.tail[c] != 0 {
		t.entries[t.tail[c]-1].next = i
	} else {
		t.head[c] = i
		t.inUse[c/64] |= 1 << (c % 64)
	}
	t.tail[c] = i
}

// unlink takes entry i out of its class's expiry list.
func (t *pendingTable) unlink(i uint32) {
	e := &t.entries[i-1]
	c := e.class
	if e.prev != 0 {
		t.entries[e.prev-1].next = e.next
	} else {
		t.head[c] = e.next
	}
	if e.next != 0 {
		t.entries[e.next-1].prev = e.prev
	} else {
		t.tail[c] = e.prev
	}
	if t.head[c] == 0 {
		t.inUse[c/64] &^= 1 << (c % 64)
	}
	e.prev, e.next = 0, 0
}
