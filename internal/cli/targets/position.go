package targets

import (
	"iter"
	"net/netip"
	"slices"
)

// Position is how far a walk of one shard's order has come, in positions
// of that walk (0 is the shard's first endpoint): every position below
// Next has a result, and so has each position in Done, all of them above
// Next and in increasing order. Results complete out of order, so a single
// index cannot say which endpoints are left; Next and Done together name
// exactly the ones that are, and Done stays as small as the probes that
// were in flight when the walk stopped. The zero Position is the start.
type Position struct {
	Next uint64   `json:"next"`
	Done []uint64 `json:"done,omitempty"`
}

// Walk returns the endpoints of shard sh in the order seed selects, each
// with its position in that walk, starting at from.Next and leaving out
// the positions in from.Done. Walk(seed, sh, Position{}) yields what
// Order(seed, sh) yields.
func (s *Set) Walk(seed uint64, sh Shard, from Position) iter.Seq2[uint64, netip.AddrPort] {
	perm := NewPermutation(s.total, seed)
	sh = sh.normal()
	n := s.ShardLen(sh)
	done := from.Done
	return func(yield func(uint64, netip.AddrPort) bool) {
		d := done
		for j := from.Next; j < n; j++ {
			for len(d) > 0 && d[0] < j {
				d = d[1:]
			}
			if len(d) > 0 && d[0] == j {
				continue
			}
			if !yield(j, s.At(perm.At(sh.Index-1+j*sh.Count))) {
				return
			}
		}
	}
}

// Progress records which positions of a walk have a result, in fixed
// memory but for the positions completed ahead of the first one still
// missing. It is not safe for concurrent use.
type Progress struct {
	next  uint64
	ahead map[uint64]struct{}
}

// NewProgress returns the Progress of a walk resumed at from.
func NewProgress(from Position) *Progress {
	p := &Progress{next: from.Next, ahead: map[uint64]struct{}{}}
	for _, d := range from.Done {
		p.Done(d)
	}
	return p
}

// Done records a result for position j.
func (p *Progress) Done(j uint64) {
	if j < p.next {
		return
	}
	p.ahead[j] = struct{}{}
	for {
		if _, ok := p.ahead[p.next]; !ok {
			return
		}
		delete(p.ahead, p.next)
		p.next++
	}
}

// Position returns the walk's position: what Walk resumes from to yield
// exactly the positions without a result.
func (p *Progress) Position() Position {
	pos := Position{Next: p.next}
	for j := range p.ahead {
		pos.Done = append(pos.Done, j)
	}
	slices.Sort(pos.Done)
	return pos
}
