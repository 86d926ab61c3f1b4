package rawcheck

import (
	"net/netip"
	"testing"
)

// The memory of finished probes spreads the keys of a scan (consecutive
// addresses, one target port, a chunk of source ports) over its slots like
// a random function would: a key folding the address and the ports into
// one word collides by construction wherever their XORs agree, and a late
// reply whose slot was taken counts as invalid. The negative control is
// such a folded hash, which the same check must catch.
func TestNonceMemorySpreadsKeys(t *testing.T) {
	n, err := newNonceSource(1 << 18) // 1<<20 slots
	if err != nil {
		t.Fatal(err)
	}
	folded := func(k *probeKey) uint32 {
		b := uint64(k.addr[12]) | uint64(k.addr[13])<<8 | uint64(k.addr[14])<<16 | uint64(k.addr[15])<<24
		return uint32((b^uint64(k.port)^uint64(k.sport)<<16)*0x9e3779b97f4a7c15>>40) & n.mask
	}
	count := func(slot func(*probeKey) uint32) int {
		used := make(map[uint32]bool)
		collisions := 0
		a := netip.MustParseAddr("198.18.0.0")
		for range 4096 {
			for sport := uint16(61000); sport < 61016; sport++ {
				k := keyOf(netip.AddrPortFrom(a, 80), sport)
				s := slot(&k)
				if used[s] {
					collisions++
				}
				used[s] = true
			}
			a = a.Next()
		}
		return collisions
	}
	// 65,536 keys in 1<<20 slots: about 2,000 collisions for a random
	// function.
	if c := count(func(k *probeKey) uint32 { b, tag := n.bucket(k); return b | uint32(tag>>8)&1 }); c > 3000 {
		t.Errorf("%d collisions among 65,536 keys in %d slots, want about 2,000", c, n.mask+1)
	}
	if c := count(folded); c <= 3000 {
		t.Errorf("control: the folded hash has only %d collisions; the check cannot tell", c)
	}
}
