package targets

import (
	"fmt"
	"net/netip"
)

// mappedBlock is ::ffff:0:0/96, the IPv4-mapped IPv6 addresses. The
// engines send to ::ffff:a.b.c.d as to a.b.c.d, so the parser writes every
// range inside it as the IPv4 range it stands for before excludes and the
// never-probed guards apply, and refuses a range that is partly inside.
var mappedBlock = addrRange{
	first: fromAddr(netip.MustParseAddr("::ffff:0.0.0.0")),
	last:  fromAddr(netip.MustParseAddr("::ffff:255.255.255.255")),
}

// unmapRange returns r with an IPv6 range inside ::ffff:0:0/96 rewritten as
// the IPv4 range it maps; any other range is returned as it is. ok is false
// when r holds addresses both inside and outside ::ffff:0:0/96.
func unmapRange(r addrRange) (_ addrRange, ok bool) {
	if r.is4 || r.last.cmp(mappedBlock.first) < 0 || r.first.cmp(mappedBlock.last) > 0 {
		return r, true
	}
	if r.first.cmp(mappedBlock.first) < 0 || r.last.cmp(mappedBlock.last) > 0 {
		return r, false
	}
	return addrRange{is4: true, first: u128{lo: r.first.lo & 0xffffffff}, last: u128{lo: r.last.lo & 0xffffffff}}, true
}

// errStraddles is the reason given for a prefix or range (kind) that is
// partly inside ::ffff:0:0/96: its two parts are different families on the
// wire, so the user must give them separately.
func errStraddles(kind, s string) error {
	return fmt.Errorf("%s %s is partly inside ::ffff:0:0/96, the IPv4-mapped IPv6 addresses, "+
		"which are probed as IPv4: give its IPv4-mapped and IPv6 parts separately", kind, s)
}
