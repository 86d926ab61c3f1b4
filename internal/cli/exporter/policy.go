package exporter

import (
	"fmt"
	"net/netip"
	"strings"
)

// DefaultDeny are the prefixes a Policy refuses unless told otherwise:
// IPv4 and IPv6 link-local, where cloud metadata services answer
// (169.254.169.254 among them).
var DefaultDeny = []netip.Prefix{
	netip.MustParsePrefix("169.254.0.0/16"),
	netip.MustParsePrefix("fe80::/10"),
}

// Policy decides which target addresses /probe may probe: an address is
// allowed when Allow is empty or holds it, and Deny does not.
type Policy struct {
	Allow, Deny []netip.Prefix
}

// Allows reports whether a may be probed.
func (p Policy) Allows(a netip.Addr) bool {
	a = a.Unmap()
	for _, d := range p.Deny {
		if d.Contains(a) {
			return false
		}
	}
	if len(p.Allow) == 0 {
		return true
	}
	for _, al := range p.Allow {
		if al.Contains(a) {
			return true
		}
	}
	return false
}

// ParsePrefixes parses a list of prefixes or addresses (an address is its
// own /32 or /128), naming the bad entry in its error.
func ParsePrefixes(list []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range list {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		if p, err := netip.ParsePrefix(s); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("bad prefix %q: want an address or address/length", s)
		}
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}
