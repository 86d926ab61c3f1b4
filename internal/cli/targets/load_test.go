package targets

import (
	"math/bits"
	"testing"
)

// TestLoadPermutation checks bijectivity on a set of ten million, not a
// power of two, and that seven shards of it are disjoint and complete.
func TestLoadPermutation(t *testing.T) {
	if testing.Short() {
		t.Skip("load test: runs in make test's second pass without -race")
	}
	const n = 10_000_019
	p := NewPermutation(n, 0x5eed)
	seen := make([]uint64, (n+63)/64)
	for sh := uint64(0); sh < 7; sh++ {
		for k := sh; k < n; k += 7 {
			j := p.At(k)
			if j >= n || seen[j/64]&(1<<(j%64)) != 0 {
				t.Fatalf("At(%d) = %d: out of range or repeated", k, j)
			}
			seen[j/64] |= 1 << (j % 64)
		}
	}
	count := 0
	for _, w := range seen {
		count += bits.OnesCount64(w)
	}
	if count != n {
		t.Errorf("visited %d of %d", count, n)
	}
}
