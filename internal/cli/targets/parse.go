package targets

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// Resolver looks host names up; *net.Resolver implements it.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// Error reports a target, exclude or file argument that cannot be used.
// Token is the offending text as given; Where, when set, is "FILE:LINE".
type Error struct {
	Where  string
	Token  string
	Reason string
}

// Error formats the error as `[FILE:LINE: ]invalid target "TOKEN": REASON`.
func (e *Error) Error() string {
	s := fmt.Sprintf("invalid target %q: %s", e.Token, e.Reason)
	if e.Where != "" {
		s = e.Where + ": " + s
	}
	return s
}

// addrRange is an inclusive range of addresses of one family.
type addrRange struct {
	is4         bool
	first, last u128
}

// block is a contiguous address range times a port list.
type block struct {
	addrRange
	addrs uint64 // number of addresses in the range
	ports Ports
}

// Builder collects target and exclude arguments and builds a Set. The zero
// value is ready to use; set Ports (from -p) before adding bare addresses,
// prefixes, ranges or host names.
type Builder struct {
	// Ports applies to every target given without its own port.
	Ports Ports
	// Resolver looks host names up; nil means net.DefaultResolver.
	Resolver Resolver
	// Family restricts the addresses of host names to IPv4 (4) or IPv6
	// (6), as -4 and -6 do; 0 takes either, IPv4 first.
	Family int
	// AllAddresses probes every address a host name resolves to (of
	// Family), instead of the first.
	AllAddresses bool

	blocks   []block
	excludes []addrRange
	names    map[netip.AddrPort]string // "host:port" of targets given by name
}

// Add parses one target argument:
//
//	host:port, ip:port, [v6]:port      one endpoint
//	ip, CIDR, a.b.c.d-e.f.g.h, host    with every port of b.Ports
//	CIDR:port, [v6-CIDR]:port          a prefix on one port
//
// A host name is resolved now; its first IPv4 address is used, or its first
// IPv6 address when it has none (b.Family and b.AllAddresses change
// which). IPv4-mapped IPv6 spellings are the IPv4 targets they map:
// ::ffff:a.b.c.d is a.b.c.d, ::ffff:a.b.c.d/(96+n) is a.b.c.d/n, and a name
// resolving to ::ffff:a.b.c.d is a.b.c.d. A prefix or range partly inside
// ::ffff:0:0/96 (::/64, ::ffff:0:0/95) is an error.
func (b *Builder) Add(ctx context.Context, token string) error {
	return b.add(ctx, token, "")
}

func (b *Builder) add(ctx context.Context, token, where string) error {
	fail := func(format string, args ...any) error {
		return &Error{Where: where, Token: token, Reason: fmt.Sprintf(format, args...)}
	}
	hosts, portText, hasPort, err := splitHostPort(token)
	if err != nil {
		return fail("%v", err)
	}
	ports := b.Ports
	if hasPort {
		p, err := parsePort(portText)
		if err != nil {
			return fail("%v", err)
		}
		ports = SinglePort(p)
	} else if ports.Len() == 0 {
		return fail("no port: give host:port or a port list with -p/--ports")
	}
	r, name, err := parseHosts(hosts)
	if err != nil {
		return fail("%v", err)
	}
	if name != "" {
		addrs, err := b.resolve(ctx, name)
		if err != nil {
			return fail("%v", err)
		}
		if b.names == nil {
			b.names = make(map[netip.AddrPort]string)
		}
		for _, addr := range addrs {
			if why := notProbeable(addr); why != "" {
				return fail("%s resolves to %v: %s", name, addr, why)
			}
			for i := range ports.Len() {
				ap := netip.AddrPortFrom(addr, ports.At(i))
				if _, dup := b.names[ap]; !dup {
					b.names[ap] = name + ":" + strconv.Itoa(int(ap.Port()))
				}
			}
			v := fromAddr(addr)
			b.blocks = append(b.blocks, block{addrRange: addrRange{is4: addr.Is4(), first: v, last: v}, addrs: 1, ports: ports})
		}
		return nil
	}
	if r.first == r.last {
		if why := notProbeable(r.first.addr(r.is4)); why != "" {
			return fail("%s", why)
		}
	}
	n, ok := span(r.first, r.last)
	if !ok {
		return fail("more than 2^64-1 addresses")
	}
	b.blocks = append(b.blocks, block{addrRange: r, addrs: n, ports: ports})
	return nil
}

// resolve returns the addresses of name to probe, of b.Family only: with
// b.AllAddresses all of them (IPv4 first, each family in the resolver's
// order, duplicates dropped), else the first IPv4 address, or the first
// IPv6 address when there is none.
func (b *Builder) resolve(ctx context.Context, name string) ([]netip.Addr, error) {
	res := b.Resolver
	if res == nil {
		res = net.DefaultResolver
	}
	network := "ip"
	switch b.Family {
	case 4:
		network = "ip4"
	case 6:
		network = "ip6"
	}
	found, err := res.LookupNetIP(ctx, network, name)
	if err != nil {
		return nil, fmt.Errorf("cannot resolve host name %s: %v", name, err)
	}
	var v4, v6 []netip.Addr
	for _, a := range found {
		a = a.Unmap().WithZone("")
		switch {
		case a.Is4() && b.Family != 6 && !slices.Contains(v4, a):
			v4 = append(v4, a)
		case a.Is6() && b.Family != 4 && !slices.Contains(v6, a):
			v6 = append(v6, a)
		}
	}
	switch {
	case len(v4)+len(v6) == 0 && b.Family != 0:
		return nil, fmt.Errorf("host name %s has no IPv%d address (-%d)", name, b.Family, b.Family)
	case len(v4)+len(v6) == 0:
		return nil, fmt.Errorf("host name %s has no addresses", name)
	case b.AllAddresses:
		return append(v4, v6...), nil
	case len(v4) > 0:
		return v4[:1], nil
	}
	return v6[:1], nil
}

// AddFile adds every target in r, one or more per line separated by spaces
// or commas; '#' starts a comment. name is used in error messages. A file
// without any target is an error.
func (b *Builder) AddFile(ctx context.Context, r io.Reader, name string) error {
	found := false
	err := eachToken(r, name, func(tok, where string) error {
		found = true
		return b.add(ctx, tok, where)
	})
	if err != nil {
		return err
	}
	if !found {
		return &Error{Token: name, Reason: "input file holds no targets"}
	}
	return nil
}

// Exclude parses a comma-separated list of addresses, CIDR prefixes and
// ranges a.b.c.d-e.f.g.h that are left out of the set. IPv4-mapped
// spellings exclude the IPv4 addresses they map, as in Add.
func (b *Builder) Exclude(list string) error {
	for _, tok := range strings.Split(list, ",") {
		if tok = strings.TrimSpace(tok); tok != "" {
			if err := b.exclude(tok, ""); err != nil {
				return err
			}
		}
	}
	return nil
}

// ExcludeFile reads exclusions from r in the format of AddFile.
func (b *Builder) ExcludeFile(r io.Reader, name string) error {
	return eachToken(r, name, b.exclude)
}

func (b *Builder) exclude(tok, where string) error {
	r, name, err := parseHosts(tok)
	if err == nil && name != "" {
		err = fmt.Errorf("exclusions take addresses, prefixes and ranges, not host names")
	}
	if err != nil {
		return &Error{Where: where, Token: tok, Reason: "exclude: " + err.Error()}
	}
	b.excludes = append(b.excludes, r)
	return nil
}

func eachToken(r io.Reader, name string, fn func(tok, where string) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	for line := 1; sc.Scan(); line++ {
		text, _, _ := strings.Cut(sc.Text(), "#")
		for _, tok := range strings.FieldsFunc(text, func(c rune) bool {
			return c == ' ' || c == '\t' || c == ',' || c == '\r'
		}) {
			if err := fn(tok, fmt.Sprintf("%s:%d", name, line)); err != nil {
				return err
			}
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("reading %s: %w", name, err)
	}
	return nil
}

// splitHostPort splits "hosts:port" and "[hosts]:port"; a token with two or
// more colons and no brackets is an IPv6 address, prefix or range alone.
func splitHostPort(tok string) (hosts, port string, hasPort bool, err error) {
	if tok == "" {
		return "", "", false, fmt.Errorf("empty target")
	}
	if strings.HasPrefix(tok, "[") {
		end := strings.IndexByte(tok, ']')
		if end < 0 {
			return "", "", false, fmt.Errorf("missing ']'")
		}
		hosts, rest := tok[1:end], tok[end+1:]
		if rest == "" {
			return hosts, "", false, nil
		}
		if rest[0] != ':' {
			return "", "", false, fmt.Errorf("unexpected %q after ']'", rest)
		}
		return hosts, rest[1:], true, nil
	}
	switch strings.Count(tok, ":") {
	case 0:
		return tok, "", false, nil
	case 1:
		h, p, _ := strings.Cut(tok, ":")
		if h == "" {
			return "", "", false, fmt.Errorf("missing host before ':'")
		}
		return h, p, true, nil
	}
	return tok, "", false, nil
}

// parseHosts parses an address, CIDR prefix, range or host name. For a host
// name it returns the name, to be resolved by the caller. An IPv4-mapped
// IPv6 address, prefix or range comes back as the IPv4 one it maps, so
// excludes and the never-probed guards see the address the engines send to;
// a prefix or range partly inside ::ffff:0:0/96 is an error.
func parseHosts(s string) (r addrRange, name string, err error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return r, "", fmt.Errorf("%s is not a valid CIDR prefix", s)
		}
		p = p.Masked()
		first := p.Addr()
		r = addrRange{is4: first.Is4(), first: fromAddr(first)}
		hostBits := first.BitLen() - p.Bits()
		r.last = r.first
		switch {
		case hostBits == 128:
			r.last = u128{^uint64(0), ^uint64(0)}
		case hostBits >= 64:
			r.last.lo = ^uint64(0)
			r.last.hi |= uint64(1)<<(hostBits-64) - 1
		default:
			r.last.lo |= uint64(1)<<hostBits - 1
		}
		r, ok := unmapRange(r)
		if !ok {
			return r, "", errStraddles("prefix", s)
		}
		return r, "", nil
	}
	if lo, hi, ok := strings.Cut(s, "-"); ok {
		a, errA := parseAddr(lo)
		if errA == nil {
			bAddr, err := parseAddr(hi)
			if err != nil {
				return r, "", fmt.Errorf("range end %s is not a valid IP address", hi)
			}
			if a.Is4() != bAddr.Is4() {
				// One end is written as IPv4: the range is IPv4 when
				// the other end maps an IPv4 address.
				a, bAddr = a.Unmap(), bAddr.Unmap()
				if a.Is4() != bAddr.Is4() {
					return r, "", fmt.Errorf("range %s mixes IPv4 and IPv6", s)
				}
			}
			if bAddr.Less(a) {
				return r, "", fmt.Errorf("range %s runs backwards", s)
			}
			r, ok := unmapRange(addrRange{is4: a.Is4(), first: fromAddr(a), last: fromAddr(bAddr)})
			if !ok {
				return r, "", errStraddles("range", s)
			}
			return r, "", nil
		}
	}
	if a, err := parseAddr(s); err == nil {
		a = a.Unmap()
		v := fromAddr(a)
		return addrRange{is4: a.Is4(), first: v, last: v}, "", nil
	}
	switch {
	case strings.Trim(s, "0123456789.") == "":
		return r, "", fmt.Errorf("%s is not a valid IPv4 address", s)
	case strings.Contains(s, ":"):
		return r, "", fmt.Errorf("%s is not a valid IPv6 address", s)
	case !validHostName(s):
		return r, "", fmt.Errorf("%s is not an IP address, CIDR prefix, range or host name", s)
	}
	return r, strings.TrimSuffix(s, "."), nil
}

// parseAddr parses an IP address without a zone as written: an
// IPv4-mapped address stays IPv6 until the caller unmaps it.
func parseAddr(s string) (netip.Addr, error) {
	a, err := netip.ParseAddr(s)
	if err != nil {
		return a, err
	}
	if a.Zone() != "" {
		return netip.Addr{}, fmt.Errorf("zones are not supported")
	}
	return a, nil
}

// validHostName reports whether s is a DNS name: labels of letters, digits
// and inner hyphens, 1-63 bytes each, 253 bytes in all.
func validHostName(s string) bool {
	s = strings.TrimSuffix(s, ".")
	if s == "" || len(s) > 253 {
		return false
	}
	for label := range strings.SplitSeq(s, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, c := range []byte(label) {
			if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}

// neverProbed are the addresses that are no destination for a SYN. Build
// leaves them out of prefixes and ranges; a single one is an error.
var neverProbed = []addrRange{
	{is4: true, first: fromAddr(netip.MustParseAddr("0.0.0.0")), last: fromAddr(netip.MustParseAddr("0.0.0.0"))},
	{is4: true, first: fromAddr(netip.MustParseAddr("224.0.0.0")), last: fromAddr(netip.MustParseAddr("239.255.255.255"))},
	{is4: true, first: fromAddr(netip.MustParseAddr("255.255.255.255")), last: fromAddr(netip.MustParseAddr("255.255.255.255"))},
	{is4: false, first: fromAddr(netip.IPv6Unspecified()), last: fromAddr(netip.IPv6Unspecified())},
	{is4: false, first: fromAddr(netip.MustParseAddr("ff00::")), last: u128{^uint64(0), ^uint64(0)}},
}

// notProbeable says why a is no destination, or "".
func notProbeable(a netip.Addr) string {
	switch {
	case a.IsUnspecified():
		return a.String() + " is the unspecified address"
	case a.IsMulticast():
		return a.String() + " is a multicast address"
	case a == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
		return a.String() + " is the broadcast address"
	}
	return ""
}
