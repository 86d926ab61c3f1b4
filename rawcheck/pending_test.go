package rawcheck

import (
	"encoding/binary"
	"fmt"
	"math/bits"
	"math/rand/v2"
	"net/netip"
	"testing"
)

// TestPendingTableModel checks the table against a map under random
// inserts, lookups and removals, with growth and backward-shift deletion.
//
// It runs with the index's distances as wide as they come and saturating at
// 0, 1 and 2, where probing and deletion read the entries instead.
func TestPendingTableModel(t *testing.T) {
	for _, limit := range []uint32{^uint32(0), 0, 1, 2} {
		t.Run(fmt.Sprint("distLimit=", int32(limit)), func(t *testing.T) { testPendingTableModel(t, limit) })
	}
}

// withDistLimit makes the empty table tab saturate index distances at
// limit.
func withDistLimit(tab *pendingTable, limit uint32) *pendingTable {
	tab.distLimit = limit
	tab.resize(len(tab.entries))
	return tab
}

func testPendingTableModel(t *testing.T, limit uint32) {
	rng := rand.New(rand.NewPCG(1, 2))
	tab := withDistLimit(newPendingTable(16, rng.Uint64(), 50, 10, 30), limit)
	model := map[probeKey]uint32{} // key -> session
	var order []probeKey           // insertion order for the expiry list
	key := func() probeKey {
		a := netip.AddrFrom4([4]byte{198, 18, byte(rng.IntN(4)), byte(rng.IntN(256))})
		return keyOf(netip.AddrPortFrom(a, uint16(rng.IntN(3)+1)), uint16(61000+rng.IntN(4)))
	}
	for step := range 200000 {
		k := key()
		switch rng.IntN(3) {
		case 0:
			i := tab.insert(k, uint32(step), 0, int64(step), uint8(rng.IntN(3)))
			_, exists := model[k]
			if (i == 0) != exists {
				t.Fatalf("step %d: insert(%v) = %d, exists %v", step, k, i, exists)
			}
			if i != 0 {
				model[k] = uint32(step)
				order = append(order, k)
			}
		case 1:
			i := tab.lookup(k)
			s, exists := model[k]
			if (i != 0) != exists || (exists && tab.at(i).session != s) {
				t.Fatalf("step %d: lookup(%v) = %d, model %v %v", step, k, i, s, exists)
			}
		case 2:
			if i := tab.lookup(k); i != 0 {
				tab.remove(i)
				delete(model, k)
			}
		}
		if tab.len() != len(model) {
			t.Fatalf("step %d: len %d, model %d", step, tab.len(), len(model))
		}
		if step%1000 == 0 {
			checkExpiry(t, tab, func(k probeKey) bool { _, ok := model[k]; return ok }, len(model))
		}
	}
	checkExpiry(t, tab, func(k probeKey) bool { _, ok := model[k]; return ok }, len(model))
	_ = order
}

// checkExpiry checks the expiry lists of tab: together they hold the n
// pending keys (pending reports them), each list is in deadline order, the
// bitmap marks exactly the non-empty lists, and next returns the earliest
// deadline of all.
func checkExpiry(t *testing.T, tab *pendingTable, pending func(probeKey) bool, n int) {
	t.Helper()
	seen := 0
	var first int64
	for c := range tab.head {
		inUse := tab.inUse[c/64]&(1<<(c%64)) != 0
		if inUse != (tab.head[c] != 0) {
			t.Fatalf("class %d: in-use bit %v, head %d", c, inUse, tab.head[c])
		}
		last := int64(-1 << 62)
		for i := tab.head[c]; i != 0; i = tab.at(i).next {
			p := tab.at(i)
			d := tab.deadline(i)
			if !pending(p.key) || int(p.class) != c || d < last {
				t.Fatalf("class %d: entry %v (class %d, deadline %d after %d) out of order, misfiled or unknown", c, p.key, p.class, d, last)
			}
			if seen == 0 || d < first {
				first = d
			}
			last = d
			seen++
		}
	}
	if seen != n {
		t.Fatalf("expiry lists hold %d entries, want %d", seen, n)
	}
	if i, d := tab.next(); (i == 0) != (n == 0) || (n > 0 && (d != first || tab.deadline(i) != d)) {
		t.Fatalf("next() = %d, %d; want the earliest deadline %d", i, d, first)
	}
}

// TestPendingTouchMovesToBack checks that a re-sent probe becomes the
// newest of its class's expiry list, and a negative control that others
// stay put.
func TestPendingTouchMovesToBack(t *testing.T) {
	tab := newPendingTable(4, 7)
	var ids []uint32
	for i := range 3 {
		k := keyOf(netip.MustParseAddrPort("198.18.0.1:80"), uint16(61000+i))
		ids = append(ids, tab.insert(k, 0, 0, int64(i), 0))
	}
	tab.touch(ids[0], 10, 0)
	var got []uint32
	for i := tab.head[0]; i != 0; i = tab.at(i).next {
		got = append(got, i)
	}
	want := []uint32{ids[1], ids[2], ids[0]}
	if len(got) != 3 || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] {
		t.Fatalf("expiry order %v, want %v", got, want)
	}
	if p := tab.at(ids[0]); p.attempts != 2 || p.sentAt != 10 {
		t.Fatalf("touched entry %+v: want attempts 2, sentAt 10", *p)
	}
}

// TestPendingNextAcrossClasses checks that next returns the earliest
// deadline when a later-sent probe has a shorter timeout class, and that a
// re-sent probe moves to the class it is given.
func TestPendingNextAcrossClasses(t *testing.T) {
	tab := newPendingTable(4, 7, 10, 1000)
	slow := tab.insert(keyOf(netip.MustParseAddrPort("198.18.0.1:80"), 61000), 0, 0, 0, 1) // due 1000
	fast := tab.insert(keyOf(netip.MustParseAddrPort("198.18.0.2:80"), 61000), 0, 0, 5, 0) // due 15
	if i, d := tab.next(); i != fast || d != 15 {
		t.Fatalf("next() = %d, %d; want %d, 15", i, d, fast)
	}
	tab.touch(fast, 20, 1) // due 1020
	if i, d := tab.next(); i != slow || d != 1000 {
		t.Fatalf("after touch: next() = %d, %d; want %d, 1000", i, d, slow)
	}
	// requeue keeps the send time: fast moves to class 0 again, due 30.
	tab.requeue(fast, 0)
	if i, d := tab.next(); i != fast || d != 30 || tab.at(fast).attempts != 2 {
		t.Fatalf("after requeue: next() = %d, %d, attempts %d; want %d, 30, 2", i, d, tab.at(fast).attempts, fast)
	}
	tab.remove(slow)
	tab.remove(fast)
	if i, _ := tab.next(); i != 0 || tab.inUse[0] != 0 {
		t.Fatalf("empty table: next() = %d, in-use bits %x", i, tab.inUse[0])
	}
}

// TestPendingSize checks the memory budget: at most 64 bytes per pending
// probe, index included.
func TestPendingSize(t *testing.T) {
	if entrySize != 56 {
		t.Errorf("pendingProbe is %d bytes, want 56", entrySize)
	}
	tab := newPendingTable(65536, 1)
	if b := tab.bytesPerProbe(); b > 64 {
		t.Errorf("%.1f bytes per pending probe, want <= 64", b)
	}
}

// TestPendingNoAllocs checks that inserting, matching and removing probes
// allocates nothing once the table has its size.
func TestPendingNoAllocs(t *testing.T) {
	tab := newPendingTable(1024, 1)
	k := keyOf(netip.MustParseAddrPort("[2001:db8::1]:443"), 61000)
	allocs := testing.AllocsPerRun(1000, func() {
		i := tab.insert(k, 1, 0, 0, 0)
		if tab.lookup(k) != i {
			panic("lookup")
		}
		tab.remove(i)
	})
	if allocs != 0 {
		t.Errorf("%v allocations per probe, want 0", allocs)
	}
}

func BenchmarkPendingInsertMatch(b *testing.B) {
	tab := newPendingTable(65536, 1)
	keys := make([]probeKey, 65536)
	for i := range keys {
		keys[i] = keyOf(netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 18, byte(i >> 8), byte(i)}), 80), 61000)
	}
	b.ResetTimer()
	for i := range b.N {
		k := keys[i&65535]
		if j := tab.lookup(k); j != 0 {
			tab.remove(j)
		}
		tab.insert(k, 0, 0, int64(i), 0)
	}
}

// FuzzPendingTable runs the operations encoded in data (3 bytes each: op
// with the timeout class in its upper bits, target, source port) on a
// small table with three timeout classes and on a map, which must agree;
// the expiry lists must stay in deadline order.
func FuzzPendingTable(f *testing.F) {
	f.Add([]byte{0, 1, 1, 0, 2, 1, 2, 1, 1, 1, 2, 1, 3, 0, 0})
	f.Add([]byte{8, 1, 1, 4, 2, 1, 3, 0, 0, 7, 0, 0, 0, 3, 2, 2, 1, 1})
	f.Fuzz(func(t *testing.T, data []byte) {
		tab := withDistLimit(newPendingTable(4, 42, 7, 2, 4), uint32(len(data)%3)) // 0 to 2: saturating
		model := map[probeKey]bool{}
		now := int64(0)
		for ; len(data) >= 3; data = data[3:] {
			now++
			k := keyOf(netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 18, 0, data[1] & 31}), 80), 61000+uint16(data[2]&3))
			class := (data[0] >> 2) % 3
			switch data[0] % 4 {
			case 0:
				if (tab.insert(k, 0, 0, now, class) != 0) == model[k] {
					t.Fatalf("insert(%v) disagrees with the model (%v)", k, model[k])
				}
				model[k] = true
			case 1:
				if i := tab.lookup(k); (i != 0) != model[k] {
					t.Fatalf("lookup(%v) = %d, model %v", k, i, model[k])
				}
			case 2:
				if i := tab.lookup(k); i != 0 {
					tab.remove(i)
					delete(model, k)
				}
			case 3:
				// Re-send the probe due first, as the expiry loop does.
				if i, _ := tab.next(); i != 0 {
					tab.touch(i, now, class)
				}
			}
			if tab.len() != len(model) {
				t.Fatalf("len %d, model %d", tab.len(), len(model))
			}
			checkExpiry(t, tab, func(k probeKey) bool { return model[k] }, len(model))
		}
	})
}

// TestPendingHashSpreadsFoldedKeys checks that keys whose address bits
// XOR their ports to one value, which a hash folding the ports into the
// address word sends to one slot, get homes spread over the index; the
// folding hash, checked the same way, is the negative control.
func TestPendingHashSpreadsFoldedKeys(t *testing.T) {
	const n = 4096
	tab := newPendingTable(n, 12345)
	keys := make([]probeKey, n)
	for i := range keys {
		// The last two address bytes and the source port's bytes in
		// memory order XOR to one value.
		a := netip.AddrFrom4([4]byte{198, 19, byte(i >> 8), byte(i)})
		keys[i] = keyOf(netip.AddrPortFrom(a, 80), (uint16(byte(i))<<8|uint16(i>>8))^0x5a5a)
	}
	folded := func(k *probeKey) uint32 {
		a := binary.LittleEndian.Uint64(k.addr[0:8])
		b := binary.LittleEndian.Uint64(k.addr[8:16]) ^ uint64(k.port)<<32 ^ uint64(k.sport)<<48
		h1, l1 := bits.Mul64(a^tab.seed, 0xa0761d6478bd642f)
		h2, l2 := bits.Mul64(b^tab.seed^h1^l1, 0xe7037ed1a0b428db)
		return uint32(h2^l2) & tab.mask
	}
	homes := func(hash func(*probeKey) uint32) int {
		seen := map[uint32]bool{}
		for i := range keys {
			seen[hash(&keys[i])] = true
		}
		return len(seen)
	}
	// n keys thrown at random into 2n slots land in about
	// 2n(1-e^(-1/2)) = 0.79n distinct ones.
	if got := homes(func(k *probeKey) uint32 { return tab.home(tab.keyHash(k)) }); got < n*7/10 {
		t.Errorf("%d keys have %d distinct home slots of %d, want >= %d", n, got, len(tab.index), n*7/10)
	}
	if got := homes(folded); got > n/100 {
		t.Errorf("negative control: the folding hash gives %d distinct home slots, want <= %d (the check cannot tell)", got, n/100)
	}
	// And the keys are all found.
	for i := range keys {
		if tab.insert(keys[i], 1, 0, 0, 0) == 0 {
			t.Fatalf("insert(%v) = 0", keys[i])
		}
	}
	for i := range keys {
		if j := tab.lookup(keys[i]); j == 0 || tab.at(j).key != keys[i] {
			t.Fatalf("lookup(%v) = %d", keys[i], j)
		}
	}
}

// BenchmarkPendingFIFO is the pending table as a large scan uses it: a
// window of 1<<18 probes in flight, each op inserting the newest probe
// and finishing the oldest, so the index is far larger than the caches.
func BenchmarkPendingFIFO(b *testing.B) {
	const window = 1 << 18
	tab := newPendingTable(window, 1)
	key := func(i int) probeKey {
		a := uint32(0xc6130000) + uint32(i)%(1<<20) // 198.19.0.0 onwards
		return keyOf(netip.AddrPortFrom(netip.AddrFrom4([4]byte{byte(a >> 24), byte(a >> 16), byte(a >> 8), byte(a)}), uint16(80+i>>20)), 61000)
	}
	for i := range window {
		tab.insert(key(i), 0, 0, int64(i), 0)
	}
	b.ResetTimer()
	for i := range b.N {
		if j, _ := tab.next(); j != 0 {
			tab.remove(j)
		}
		tab.insert(key(window+i), 0, 0, int64(window+i), 0)
	}
}

// TestPendingHighWaterMark checks that the table writes only the entries
// of the most probes it held at once (the others stay untouched, so not
// resident), reusing freed ones first; the control is that holding more
// at once does raise the mark.
func TestPendingHighWaterMark(t *testing.T) {
	tab := newPendingTable(1<<16, 3)
	key := func(i int) probeKey {
		return keyOf(netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 18, byte(i >> 8), byte(i)}), 80), 61000)
	}
	for round := range 50 {
		var ids []uint32
		for i := range 10 {
			ids = append(ids, tab.insert(key(round*10+i), 0, 0, 0, 0))
		}
		for _, id := range ids {
			tab.remove(id)
		}
	}
	if tab.hwm != 10 {
		t.Errorf("after 50 rounds of 10 probes at once, %d entries were written, want 10", tab.hwm)
	}
	for i := range 25 {
		tab.insert(key(1000+i), 0, 0, 0, 0)
	}
	if tab.hwm != 25 {
		t.Errorf("with 25 probes at once, %d entries were written, want 25", tab.hwm)
	}
}
