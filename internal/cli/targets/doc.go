// Package targets turns rawprobe's target arguments into a set of TCP
// endpoints and walks that set in a seeded pseudo-random order, optionally
// split into disjoint shards, without ever materialising it.
//
// A set is a list of blocks, each a contiguous address range (one address
// for host:port) times a port list, so 10.0.0.0/8 with 1000 ports costs a
// few dozen bytes. IPv4-mapped IPv6 spellings (::ffff:a.b.c.d, prefixes
// and ranges of them) are parsed as the IPv4 addresses they map, the ones
// the engines send to, so excludes and the guard against unspecified,
// multicast and broadcast addresses hold whichever way an address is
// written. Excluded addresses are cut out of the ranges when the set is
// built. Order walks a keyed Feistel permutation of the index space
// [0, Len) with cycle-walking, so every target is visited exactly once in an
// order that does not follow addresses or ports; Shard I/N keeps every N-th
// position of that order, so N processes with the same seed cover the set
// exactly once between them. Walk resumes a walk from a Position (the
// index below which every endpoint has a result, and the ones done past
// it), which Progress keeps as results come in, so an interrupted scan goes
// on with exactly the endpoints it has no result for.
package targets
