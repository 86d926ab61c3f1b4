package targets

import (
	"encoding/json"
	"fmt"
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
//
// In JSON, Done is written as inclusive ranges, [[first, last], ...]: the
// positions completed past a hole are mostly consecutive.
type Position struct {
	Next uint64
	Done []uint64
}

// positionJSON is Position's JSON form.
type positionJSON struct {
	Next uint64      `json:"next"`
	Done [][2]uint64 `json:"done,omitempty"`
}

// MarshalJSON writes p with Done as ranges.
func (p Position) MarshalJSON() ([]byte, error) {
	pj := positionJSON{Next: p.Next}
	for _, d := range p.Done {
		if k := len(pj.Done) - 1; k >= 0 && pj.Done[k][1]+1 == d {
			pj.Done[k][1] = d
			continue
		}
		pj.Done = append(pj.Done, [2]uint64{d, d})
	}
	return json.Marshal(pj)
}

// UnmarshalJSON reads what MarshalJSON writes. Ranges out of order,
// overlapping, reversed or below Next are refused.
func (p *Position) UnmarshalJSON(b []byte) error {
	var pj positionJSON
	if err := json.Unmarshal(b, &pj); err != nil {
		return err
	}
	*p = Position{Next: pj.Next}
	low := pj.Next + 1 // Next itself has no result
	for _, r := range pj.Done {
		if r[0] < low || r[1] < r[0] {
			return fmt.Errorf("position: done range %d-%d out of order (after %d)", r[0], r[1], low-1)
		}
		for d := r[0]; ; d++ {
			p.Done = append(p.Done, d)
			if d == r[1] {
				break
			}
		}
		low = r[1] + 1
	}
	return nil
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
