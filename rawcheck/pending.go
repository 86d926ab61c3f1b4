package rawcheck

import (
	"encoding/binary"
	"math/bits"
	"net/netip"
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

// pendingProbe is one probe in flight: 48 bytes, kept in a dense slice.
type pendingProbe struct {
	key      probeKey
	attempts uint8 // SYNs sent so far
	_        [3]byte
	session  uint32 // who waits for the result
	route    uint32 // index of the route (source address, template) used
	sentAt   int64  // engine clock (ns) of the latest attempt
	prev     uint32 // expiry list links: entry index + 1, 0 = none
	next     uint32 // also links the free list
}

// pendingTable holds the probes in flight: a dense slice of entries, an
// open-addressing index (linear probing, backward-shift deletion) keyed by
// probeKey, and one expiry list in send order. Since every attempt has the
// same timeout, that list is ordered by deadline too: it is the engine's
// only timer. Nothing is allocated per probe; the slices only grow when the
// table is full. A pendingTable is not safe for concurrent use.
type pendingTable struct {
	entries    []pendingProbe
	index      []uint32 // entry index + 1, 0 = empty; len is a power of two
	mask       uint32
	seed       uint64
	free       uint32 // free list head: entry index + 1
	used       int    // entries in use
	head, tail uint32 // expiry list, oldest first: entry index + 1
}

// newPendingTable returns a table for capacity probes; it grows if needed.
func newPendingTable(capacity int, seed uint64) *pendingTable {
	t := &pendingTable{seed: seed}
	t.resize(max(capacity, 16))
	return t
}

// resize makes room for capacity entries, keeping the ones in use.
func (t *pendingTable) resize(capacity int) {
	old := t.entries
	t.entries = make([]pendingProbe, capacity)
	copy(t.entries, old)
	size := 1 << bits.Len(uint(2*capacity-1)) // >= 2*capacity: load <= 1/2
	t.index = make([]uint32, size)
	t.mask = uint32(size - 1)
	// Rebuild the free list (new entries) and the index (old entries).
	t.free = 0
	for i := capacity - 1; i >= len(old); i-- {
		t.entries[i].next = t.free
		t.free = uint32(i + 1)
	}
	if t.used == 0 {
		return
	}
	for i := t.head; i != 0; i = t.entries[i-1].next {
		t.place(i)
	}
}

// hash returns the index slot where k's probing starts.
func (t *pendingTable) hash(k *probeKey) uint32 {
	a := binary.LittleEndian.Uint64(k.addr[0:8])
	b := binary.LittleEndian.Uint64(k.addr[8:16]) ^ uint64(k.port)<<32 ^ uint64(k.sport)<<48
	h1, l1 := bits.Mul64(a^t.seed, 0xa0761d6478bd642f)
	h2, l2 := bits.Mul64(b^t.seed^h1^l1, 0xe7037ed1a0b428db)
	return uint32(h2^l2) & t.mask
}

// place puts entry i+1 (already filled) into the index.
func (t *pendingTable) place(i uint32) {
	s := t.hash(&t.entries[i-1].key)
	for t.index[s] != 0 {
		s = (s + 1) & t.mask
	}
	t.index[s] = i
}

// lookup returns the index (+1) of the probe with key k, or 0.
func (t *pendingTable) lookup(k probeKey) uint32 {
	s := t.hash(&k)
	for {
		i := t.index[s]
		if i == 0 {
			return 0
		}
		if t.entries[i-1].key == k {
			return i
		}
		s = (s + 1) & t.mask
	}
}

// insert adds a probe with key k, sent now, at the end of the expiry list.
// It returns the entry (index + 1), or 0 if k is already pending.
func (t *pendingTable) insert(k probeKey, session, route uint32, now int64) uint32 {
	s := t.hash(&k)
	for {
		i := t.index[s]
		if i == 0 {
			break
		}
		if t.entries[i-1].key == k {
			return 0
		}
		s = (s + 1) & t.mask
	}
	if t.free == 0 {
		t.resize(2 * len(t.entries))
		s = t.hash(&k)
		for t.index[s] != 0 {
			s = (s + 1) & t.mask
		}
	}
	i := t.free
	e := &t.entries[i-1]
	t.free = e.next
	*e = pendingProbe{key: k, attempts: 1, session: session, route: route, sentAt: now}
	t.index[s] = i
	t.used++
	t.pushBack(i)
	return i
}

// at returns entry i (index + 1).
func (t *pendingTable) at(i uint32) *pendingProbe { return &t.entries[i-1] }

// remove deletes entry i (index + 1) from the index and the expiry list.
func (t *pendingTable) remove(i uint32) {
	e := &t.entries[i-1]
	// Find its slot, then shift later members of the cluster back.
	s := t.hash(&e.key)
	for t.index[s] != i {
		s = (s + 1) & t.mask
	}
	for {
		t.index[s] = 0
		n := s
		for {
			n = (n + 1) & t.mask
			j := t.index[n]
			if j == 0 {
				goto unlinked
			}
			h := t.hash(&t.entries[j-1].key)
			// j may move to s if its home h is not in (s, n].
			if (n-h)&t.mask >= (n-s)&t.mask {
				t.index[s] = j
				s = n
				break
			}
		}
	}
unlinked:
	t.unlink(i)
	e.next = t.free
	t.free = i
	t.used--
}

// touch records a new attempt of entry i sent now: it moves to the end of
// the expiry list.
func (t *pendingTable) touch(i uint32, now int64) {
	t.unlink(i)
	e := &t.entries[i-1]
	e.sentAt = now
	e.attempts++
	t.pushBack(i)
}

// oldest returns the entry sent longest ago (index + 1), or 0 if none.
func (t *pendingTable) oldest() uint32 { return t.head }

// len returns the number of probes pending.
func (t *pendingTable) len() int { return t.used }

// bytesPerProbe is the memory the table needs per pending probe when full:
// the entry plus its share of the index.
func (t *pendingTable) bytesPerProbe() float64 {
	return float64(len(t.entries)*entrySize+len(t.index)*4) / float64(len(t.entries))
}

func (t *pendingTable) pushBack(i uint32) {
	e := &t.entries[i-1]
	e.prev, e.next = t.tail, 0
	if t.tail != 0 {
		t.entries[t.tail-1].next = i
	} else {
		t.head = i
	}
	t.tail = i
}

func (t *pendingTable) unlink(i uint32) {
	e := &t.entries[i-1]
	if e.prev != 0 {
		t.entries[e.prev-1].next = e.next
	} else {
		t.head = e.next
	}
	if e.next != 0 {
		t.entries[e.next-1].prev = e.prev
	} else {
		t.tail = e.prev
	}
	e.prev, e.next = 0, 0
}
