package targets

import (
	"fmt"
	"iter"
	"net/netip"
	"slices"
	"sort"
)

// Set is an immutable, indexable set of TCP endpoints built by a Builder.
// It holds blocks of address ranges times port lists, never the endpoints.
type Set struct {
	blocks []block
	ends   []uint64 // ends[i] is the index one past block i
	total  uint64
	names  map[netip.AddrPort]string
}

// Build subtracts the exclusions from the targets added so far and returns
// the resulting set. Unspecified, multicast and broadcast addresses are
// always left out of prefixes and ranges. A set that is empty or holds 2^64 or more endpoints is
// an error.
func (b *Builder) Build() (*Set, error) {
	s := &Set{names: b.names}
	for _, blk := range b.blocks {
		for _, r := range subtract(blk.addrRange, slices.Concat(neverProbed, b.excludes)) {
			n, _ := span(r.first, r.last)
			nb := block{addrRange: r, addrs: n, ports: blk.ports}
			size, over := mul64(n, uint64(blk.ports.Len()))
			next := s.total + size
			if over || next < s.total {
				return nil, fmt.Errorf("too many targets: the set holds 2^64 or more endpoints")
			}
			s.total = next
			s.blocks = append(s.blocks, nb)
			s.ends = append(s.ends, s.total)
		}
	}
	if s.total == 0 {
		if len(b.blocks) == 0 {
			return nil, fmt.Errorf("no targets given")
		}
		return nil, fmt.Errorf("no targets left after exclusions")
	}
	return s, nil
}

func mul64(a, b uint64) (uint64, bool) {
	if a == 0 || b == 0 {
		return 0, false
	}
	p := a * b
	return p, p/b != a
}

// subtract returns r less every range in ex, as disjoint ranges in order.
func subtract(r addrRange, ex []addrRange) []addrRange {
	out := []addrRange{r}
	for _, e := range ex {
		if e.is4 != r.is4 {
			continue
		}
		var next []addrRange
		for _, c := range out {
			if e.last.cmp(c.first) < 0 || e.first.cmp(c.last) > 0 {
				next = append(next, c)
				continue
			}
			if e.first.cmp(c.first) > 0 {
				next = append(next, addrRange{c.is4, c.first, e.first.sub(u128{lo: 1})})
			}
			if e.last.cmp(c.last) < 0 {
				next = append(next, addrRange{c.is4, e.last.add(1), c.last})
			}
		}
		out = next
	}
	return out
}

// Len returns the number of endpoints in the set.
func (s *Set) Len() uint64 { return s.total }

// At returns the i-th endpoint in block order; 0 <= i < Len.
func (s *Set) At(i uint64) netip.AddrPort {
	k := sort.Search(len(s.ends), func(j int) bool { return s.ends[j] > i })
	b := &s.blocks[k]
	if k > 0 {
		i -= s.ends[k-1]
	}
	np := uint64(b.ports.Len())
	return netip.AddrPortFrom(b.first.add(i/np).addr(b.is4), b.ports.At(int(i%np)))
}

// Name returns how the user named the endpoint: "host:port" for a target
// given by host name, otherwise the address and port ("[v6]:port" for IPv6).
func (s *Set) Name(ap netip.AddrPort) string {
	if n, ok := s.names[ap]; ok {
		return n
	}
	return ap.String()
}

// Order returns the endpoints of shard sh in the pseudo-random order that
// seed selects. Every endpoint of the set appears in exactly one of the
// sh.Count shards, once. The zero Shard means the whole set.
func (s *Set) Order(seed uint64, sh Shard) iter.Seq[netip.AddrPort] {
	return func(yield func(netip.AddrPort) bool) {
		for _, ap := range s.Walk(seed, sh, Position{}) {
			if !yield(ap) {
				return
			}
		}
	}
}

// ShardLen returns the number of endpoints in shard sh.
func (s *Set) ShardLen(sh Shard) uint64 {
	sh = sh.normal()
	if sh.Index > s.total {
		return 0
	}
	return (s.total-sh.Index)/sh.Count + 1
}

// Ports returns every port the set probes, and whether every address of
// the set is probed on all of them (as with -p and no target of its own
// port), so that a host is complete once it has that many results.
func (s *Set) Ports() (all Ports, everyAddr bool) {
	var rs []portRange
	everyAddr = true
	for i, blk := range s.blocks {
		rs = append(rs, blk.ports.ranges...)
		if i > 0 && !slices.Equal(blk.ports.ranges, s.blocks[0].ports.ranges) {
			everyAddr = false
		}
	}
	return mergePorts(rs), everyAddr
}
