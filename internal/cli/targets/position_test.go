package targets

import (
	"encoding/json"
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"
)

// TestWalkResume walks a shard, completes positions out of order, stops
// at random points and resumes from the Progress's Position until done:
// every endpoint of the shard is completed exactly once. The control
// resumes from the Next alone (dropping Done) and sees duplicates.
func TestWalkResume(t *testing.T) {
	s := mustSet(t, "1-64", "198.18.0.0/26") // 4,096 endpoints
	rng := rand.New(rand.NewPCG(1, 2))
	for _, sh := range []Shard{{}, {2, 3}} {
		for _, dropDone := range []bool{false, true} {
			seen := map[netip.AddrPort]int{}
			var from Position
			for round := 0; round < 20; round++ {
				p := NewProgress(from)
				var flight []uint64
				var ends []netip.AddrPort
				stopAt := rng.IntN(600) + 1
				for j, ap := range s.Walk(7, sh, from) {
					flight = append(flight, j)
					ends = append(ends, ap)
					if len(flight) == 32 { // complete a random one of 32 in flight
						i := rng.IntN(len(flight))
						p.Done(flight[i])
						seen[ends[i]]++
						flight = slices.Delete(flight, i, i+1)
						ends = slices.Delete(ends, i, i+1)
					}
					if stopAt--; stopAt == 0 {
						break
					}
				}
				from = p.Position()
				if dropDone {
					from.Done = nil
				}
				if from.Next == s.ShardLen(sh) {
					break
				}
			}
			for _, ap := range s.Walk(7, sh, from) { // finish in order
				seen[ap]++
			}
			dups := 0
			for _, n := range seen {
				if n > 1 {
					dups++
				}
			}
			want := int(s.ShardLen(sh))
			if dropDone {
				if dups == 0 {
					t.Errorf("shard %v, control without Done: no duplicate", sh)
				}
				continue
			}
			if len(seen) != want || dups != 0 {
				t.Errorf("shard %v: %d endpoints (want %d), %d twice", sh, len(seen), want, dups)
			}
		}
	}
}

// TestWalkMatchesOrder: a walk from the start is Order, position by
// position.
func TestWalkMatchesOrder(t *testing.T) {
	s := mustSet(t, "80,443", "198.18.0.0/28", "2001:db8::/124")
	var order []netip.AddrPort
	for ap := range s.Order(3, Shard{1, 2}) {
		order = append(order, ap)
	}
	var i uint64
	for j, ap := range s.Walk(3, Shard{1, 2}, Position{}) {
		if j != i || ap != order[j] {
			t.Fatalf("position %d: %v, Order has %v at %d", j, ap, order[i], i)
		}
		i++
	}
	if i != uint64(len(order)) {
		t.Errorf("walk %d, order %d", i, len(order))
	}
}

// TestWalkHash: the same targets in another order, or another seed or
// shard, give another WalkHash (while Hash stays the same for the reorder).
func TestWalkHash(t *testing.T) {
	a := mustSet(t, "", "198.18.0.1:80", "198.18.0.2:80")
	b := mustSet(t, "", "198.18.0.2:80", "198.18.0.1:80")
	if a.Hash() != b.Hash() {
		t.Fatal("Hash depends on the order")
	}
	h := a.WalkHash(1, Shard{})
	for name, other := range map[string]string{
		"reordered": b.WalkHash(1, Shard{}), "seed": a.WalkHash(2, Shard{}), "shard": a.WalkHash(1, Shard{1, 2}),
	} {
		if other == h {
			t.Errorf("%s: same WalkHash", name)
		}
	}
	if a.WalkHash(1, Shard{}) != h || a.WalkHash(1, Shard{1, 1}) != h {
		t.Error("WalkHash not stable")
	}
}

func mustSet(t *testing.T, ports string, tokens ...string) *Set {
	t.Helper()
	s, err := build(t, ports, tokens...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestPositionJSON: Done round-trips as ranges; bad ranges are refused.
func TestPositionJSON(t *testing.T) {
	p := Position{Next: 5, Done: []uint64{7, 8, 9, 12, 20, 21}}
	b, err := json.Marshal(p)
	if err != nil || string(b) != `{"next":5,"done":[[7,9],[12,12],[20,21]]}` {
		t.Fatalf("%s %v", b, err)
	}
	var q Position
	if err := json.Unmarshal(b, &q); err != nil || q.Next != 5 || !slices.Equal(q.Done, p.Done) {
		t.Errorf("round trip: %+v %v", q, err)
	}
	for _, bad := range []string{`{"next":5,"done":[[5,6]]}`, `{"next":5,"done":[[9,7]]}`, `{"next":5,"done":[[7,9],[8,10]]}`} {
		if err := json.Unmarshal([]byte(bad), &q); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}
