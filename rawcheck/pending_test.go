package rawcheck

import (
	"math/rand/v2"
	"net/netip"
	"testing"
)

// TestPendingTableModel checks the table against a map under random
// inserts, lookups and removals, with growth and backward-shift deletion.
func TestPendingTableModel(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	tab := newPendingTable(16, rng.Uint64())
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
			i := tab.insert(k, uint32(step), 0, int64(step))
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
	}
	// The expiry list holds every pending key, oldest first.
	n := 0
	last := int64(-1)
	for i := tab.oldest(); i != 0; i = tab.at(i).next {
		p := tab.at(i)
		if _, ok := model[p.key]; !ok || p.sentAt < last {
			t.Fatalf("expiry list entry %v out of order or unknown", p.key)
		}
		last = p.sentAt
		n++
	}
	if n != len(model) {
		t.Fatalf("expiry list has %d entries, want %d", n, len(model))
	}
	_ = order
}

// TestPendingTouchMovesToBack checks that a re-sent probe becomes the
// newest of the expiry list, and a negative control that others stay put.
func TestPendingTouchMovesToBack(t *testing.T) {
	tab := newPendingTable(4, 7)
	var ids []uint32
	for i := range 3 {
		k := keyOf(netip.MustParseAddrPort("198.18.0.1:80"), uint16(61000+i))
		ids = append(ids, tab.insert(k, 0, 0, int64(i)))
	}
	tab.touch(ids[0], 10)
	var got []uint32
	for i := tab.oldest(); i != 0; i = tab.at(i).next {
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

// TestPendingSize checks the memory budget: at most 64 bytes per pending
// probe, index included.
func TestPendingSize(t *testing.T) {
	if entrySize != 48 {
		t.Errorf("pendingProbe is %d bytes, want 48", entrySize)
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
		i := tab.insert(k, 1, 0, 0)
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
		tab.insert(k, 0, 0, int64(i))
	}
}

// FuzzPendingTable runs the operations encoded in data (3 bytes each: op,
// target, source port) on a small table and on a map, which must agree.
func FuzzPendingTable(f *testing.F) {
	f.Add([]byte{0, 1, 1, 0, 2, 1, 2, 1, 1, 1, 2, 1, 3, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		tab := newPendingTable(4, 42)
		model := map[probeKey]bool{}
		now := int64(0)
		for ; len(data) >= 3; data = data[3:] {
			now++
			k := keyOf(netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 18, 0, data[1] & 31}), 80), 61000+uint16(data[2]&3))
			switch data[0] % 4 {
			case 0:
				if (tab.insert(k, 0, 0, now) != 0) == model[k] {
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
				if i := tab.oldest(); i != 0 {
					tab.touch(i, now)
				}
			}
			if tab.len() != len(model) {
				t.Fatalf("len %d, model %d", tab.len(), len(model))
			}
		}
		n, last := 0, int64(-1)
		for i := tab.oldest(); i != 0; i = tab.at(i).next {
			if p := tab.at(i); !model[p.key] || p.sentAt < last {
				t.Fatalf("expiry list out of order or holding a removed probe")
			} else {
				last = p.sentAt
			}
			n++
		}
		if n != len(model) {
			t.Fatalf("expiry list has %d entries, model %d", n, len(model))
		}
	})
}
