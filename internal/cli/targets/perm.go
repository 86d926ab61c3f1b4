package targets

import "math/bits"

// feistelRounds is even, so the halves of an unbalanced network return to
// their original sizes.
const feistelRounds = 6

// Permutation is a keyed bijection of [0, N) computed one index at a time:
// a Feistel network over the smallest bit width that covers N, with
// cycle-walking to stay inside [0, N). It keeps no table, so N may be as
// large as 2^64-1. The domain is at most twice N, so At applies the network
// fewer than two times on average.
type Permutation struct {
	n           uint64
	left, right uint // bit widths of the two halves
	keys        [feistelRounds]uint64
}

// NewPermutation returns the permutation of [0, n) that seed selects.
func NewPermutation(n, seed uint64) *Permutation {
	p := &Permutation{n: n}
	w := uint(2)
	if n > 4 {
		w = uint(bits.Len64(n - 1))
	}
	p.left, p.right = (w+1)/2, w/2
	state := seed
	for i := range p.keys {
		state += 0x9e3779b97f4a7c15
		p.keys[i] = mix64(state)
	}
	return p
}

// Len returns N.
func (p *Permutation) Len() uint64 { return p.n }

// At returns the image of i; 0 <= i < Len.
func (p *Permutation) At(i uint64) uint64 {
	if p.n <= 1 {
		return i
	}
	for {
		i = p.encrypt(i)
		if i < p.n {
			return i
		}
	}
}

func (p *Permutation) encrypt(x uint64) uint64 {
	u, v := p.left, p.right // widths of L and R
	l, r := x>>v, x&mask(v)
	for _, k := range p.keys {
		// (L, R) -> (R, L ^ F(R)): R moves left, the halves swap widths.
		l, r = r, l^(mix64(r^k)&mask(u))
		u, v = v, u
	}
	return l<<v | r
}

func mask(w uint) uint64 { return uint64(1)<<w - 1 }

// mix64 is the splitmix64 finaliser: a fast bijective scrambler of 64 bits.
func mix64(z uint64) uint64 {
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}
