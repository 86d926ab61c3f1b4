package targets

import (
	"fmt"
	"strconv"
	"strings"
)

// Shard selects the Index-th (1-based) of Count disjoint shares of a set's
// order. The zero value means the whole set (1/1).
type Shard struct {
	Index, Count uint64
}

// ParseShard parses "I/N" with 1 <= I <= N.
func ParseShard(s string) (Shard, error) {
	is, ns, ok := strings.Cut(s, "/")
	i, errI := strconv.ParseUint(is, 10, 64)
	n, errN := strconv.ParseUint(ns, 10, 64)
	switch {
	case !ok || errI != nil || errN != nil:
		return Shard{}, fmt.Errorf("invalid shard %q: want I/N, e.g. 1/4", s)
	case n == 0:
		return Shard{}, fmt.Errorf("invalid shard %q: the count N must be at least 1", s)
	case i < 1 || i > n:
		return Shard{}, fmt.Errorf("invalid shard %q: the index I must be 1..%d", s, n)
	}
	return Shard{Index: i, Count: n}, nil
}

func (sh Shard) normal() Shard {
	if sh.Count == 0 {
		return Shard{1, 1}
	}
	return sh
}

// String formats the shard as "I/N".
func (sh Shard) String() string {
	sh = sh.normal()
	return fmt.Sprintf("%d/%d", sh.Index, sh.Count)
}
