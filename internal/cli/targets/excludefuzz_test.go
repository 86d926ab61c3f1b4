package targets

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strings"
	"testing"
)

// fuzzBytes hands out the fuzzer's bytes one at a time, then zeros.
type fuzzBytes []byte

func (f *fuzzBytes) next() int {
	if len(*f) == 0 {
		return 0
	}
	c := (*f)[0]
	*f = (*f)[1:]
	return int(c)
}

func (f *fuzzBytes) pick(n int) int { return f.next() % n }

// item is one generated target or exclude: the text given to the Builder
// and, worked out with net/netip alone, the addresses it stands for.
type item struct {
	text        string
	first, last netip.Addr // in the form the engines send to: IPv4 unmapped
	straddles   bool       // partly inside ::ffff:0:0/96: must be refused
	port        uint16     // the item's own port, or 0 for the builder's
}

var (
	// IPv4 bases sit at the edges of the never-probed addresses.
	fuzzV4Bases = []string{"198.18.0.0", "0.0.0.0", "223.255.255.192", "239.255.255.192", "255.255.255.192", "10.0.0.0"}
	// IPv6 bases sit at the edges of ::, ff00::/8 and ::ffff:0:0/96.
	fuzzV6Bases = []string{"2001:db8::", "::", "feff:ffff:ffff:ffff:ffff:ffff:ffff:ffc0", "::fffe:ffff:ffc0",
		"::ffff:0:0", "::ffff:ffff:ffc0", "::1:0:0:0"}
	mappedPrefix = netip.MustParsePrefix("::ffff:0:0/96")
	broadcast    = netip.MustParseAddr("255.255.255.255")
)

func plus(a netip.Addr, n int) netip.Addr {
	for range n {
		if b := a.Next(); b.IsValid() {
			a = b
		}
	}
	return a
}

// spell writes a in one of the ways a user may: an IPv4 address plain or
// IPv4-mapped (dotted, hex or expanded); an IPv6 one short or expanded.
func spell(g *fuzzBytes, a netip.Addr) string {
	if a.Is4() {
		m := netip.AddrFrom16(a.As16())
		switch g.pick(4) {
		case 1:
			return m.String() // ::ffff:a.b.c.d
		case 2:
			return m.StringExpanded() // 0000:...:ffff:xxxx:xxxx
		case 3:
			b := a.As4()
			return fmt.Sprintf("::ffff:%x:%x", int(b[0])<<8|int(b[1]), int(b[2])<<8|int(b[3]))
		}
		return a.String()
	}
	if g.pick(2) == 1 {
		return a.StringExpanded()
	}
	return a.String()
}

// wire is what the engines send to for a: a unmapped.
func wire(a netip.Addr) netip.Addr { return a.Unmap() }

// genItem makes an address, prefix or range near one of the bases, in any
// spelling, or one that straddles ::ffff:0:0/96.
func genItem(g *fuzzBytes) item {
	var base netip.Addr
	v4 := g.pick(2) == 0
	if v4 {
		base = netip.MustParseAddr(fuzzV4Bases[g.pick(len(fuzzV4Bases))])
	} else {
		base = netip.MustParseAddr(fuzzV6Bases[g.pick(len(fuzzV6Bases))])
	}
	a := plus(base, g.pick(64))
	switch g.pick(5) {
	case 0, 1: // one address
		return item{text: spell(g, a), first: wire(a), last: wire(a)}
	case 2: // a prefix of up to 64 addresses
		hostBits := g.pick(7)
		p := netip.PrefixFrom(a, a.BitLen()-hostBits).Masked()
		first := p.Addr()
		last := plus(first, 1<<hostBits-1)
		// spell keeps the family for IPv6 only: an IPv4 prefix written
		// mapped takes 96 more bits.
		text := spell(g, first)
		bits := p.Bits()
		if first.Is4() && strings.Contains(text, ":") {
			bits += 96
		}
		text += "/" + fmt.Sprint(bits)
		return item{text: text, first: wire(first), last: wire(last)}
	case 3: // a range of up to 64 addresses
		b := plus(a, g.pick(64))
		it := item{text: spell(g, a) + "-" + spell(g, b), first: wire(a), last: wire(b)}
		it.straddles = !v4 && mappedPrefix.Contains(a) != mappedPrefix.Contains(b)
		return it
	}
	// Straddling: a prefix shorter than /96 around a mapped address, or a
	// range from below ::ffff:0:0/96 to above it.
	if g.pick(2) == 0 {
		m := netip.AddrFrom16(plus(netip.MustParseAddr("198.18.0.0"), g.pick(256)).As16())
		return item{text: netip.PrefixFrom(m, 64+g.pick(32)).Masked().String(), straddles: true}
	}
	lo := plus(netip.MustParseAddr("::fffe:ffff:ffc0"), g.pick(64))
	hi := plus(netip.MustParseAddr("::1:0:0:0"), g.pick(64))
	return item{text: lo.String() + "-" + hi.String(), straddles: true}
}

// genTarget is genItem, sometimes with its own port or as a host name
// that resolves to the address in either spelling.
func genTarget(g *fuzzBytes, i int, names fakeResolver) item {
	it := genItem(g)
	switch g.pick(4) {
	case 1: // host:port
		it.port = uint16(1 + g.pick(3))
		if strings.Contains(it.text, ":") {
			it.text = "[" + it.text + "]"
		}
		it.text += ":" + fmt.Sprint(it.port)
	case 2: // a name for a single address
		if it.straddles || it.first != it.last {
			break
		}
		name := fmt.Sprintf("h%d.example", i)
		a := it.first
		if a.Is4() && g.pick(2) == 1 {
			a = netip.AddrFrom16(a.As16())
		}
		names[name] = []netip.Addr{a}
		it.text = name
	}
	return it
}

func never(a netip.Addr) bool {
	a = a.Unmap()
	return a.IsUnspecified() || a.IsMulticast() || a == broadcast
}

func within(a netip.Addr, it item) bool {
	a = a.Unmap()
	return a.Is4() == it.first.Is4() && it.first.Compare(a) <= 0 && a.Compare(it.last) <= 0
}

// checkExcludesHold builds a set from targets and excludes generated from
// data and checks that it yields exactly the targets' endpoints less the
// excludes and the never-probed addresses: so none excluded and none
// unspecified, multicast or broadcast, whatever the spellings.
func checkExcludesHold(t *testing.T, data []byte) {
	g := fuzzBytes(data)
	names := fakeResolver{}
	b := &Builder{Resolver: names, Ports: SinglePort(80)}
	if g.pick(2) == 1 {
		b.Ports, _ = ParsePorts("80,443")
	}
	var kept, excludes []item
	for i := range 1 + g.pick(4) {
		it := genTarget(&g, i, names)
		err := b.Add(context.Background(), it.text)
		var te *Error
		switch {
		case it.straddles:
			if !errors.As(err, &te) || te.Token != it.text || !strings.Contains(err.Error(), "::ffff:0:0/96") {
				t.Fatalf("target %q straddles ::ffff:0:0/96: err = %v", it.text, err)
			}
		case it.first == it.last && never(it.first):
			if !errors.As(err, &te) || te.Token != it.text {
				t.Fatalf("target %q is never probed: err = %v", it.text, err)
			}
		case err != nil:
			t.Fatalf("target %q (%v-%v): %v", it.text, it.first, it.last, err)
		default:
			kept = append(kept, it)
		}
	}
	for range g.pick(4) {
		it := genItem(&g)
		err := b.Exclude(it.text)
		if it.straddles {
			var te *Error
			if !errors.As(err, &te) || te.Token != it.text || !strings.Contains(err.Error(), "::ffff:0:0/96") {
				t.Fatalf("exclude %q straddles ::ffff:0:0/96: err = %v", it.text, err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("exclude %q (%v-%v): %v", it.text, it.first, it.last, err)
		}
		excludes = append(excludes, it)
	}

	want := map[netip.AddrPort]int{}
	total := 0
	for _, it := range kept {
		for a := it.first; ; a = a.Next() {
			if !never(a) && !func() bool {
				for _, ex := range excludes {
					if within(a, ex) {
						return true
					}
				}
				return false
			}() {
				if it.port != 0 {
					want[netip.AddrPortFrom(a, it.port)]++
					total++
				} else {
					for i := range b.Ports.Len() {
						want[netip.AddrPortFrom(a, b.Ports.At(i))]++
						total++
					}
				}
			}
			if a == it.last {
				break
			}
		}
	}

	s, err := b.Build()
	if total == 0 {
		if err == nil || !strings.Contains(err.Error(), "no targets") {
			t.Fatalf("nothing left to probe, yet Build = %v, %v", s, err)
		}
		return
	}
	if err != nil {
		t.Fatalf("Build: %v (want %d endpoints)", err, total)
	}
	if s.Len() != uint64(total) {
		t.Errorf("set holds %d endpoints, want %d", s.Len(), total)
	}
	for ap := range s.Order(uint64(g.next()), Shard{}) {
		a := ap.Addr()
		if a.Is4In6() {
			t.Fatalf("set yields %v in its IPv4-mapped spelling", ap)
		}
		if never(a) {
			t.Fatalf("set yields %v, which is never probed", ap)
		}
		for _, ex := range excludes {
			if within(a, ex) {
				t.Fatalf("set yields %v, inside exclude %q", ap, ex.text)
			}
		}
		if want[ap]--; want[ap] < 0 {
			t.Fatalf("set yields %v more often than the targets give it", ap)
		}
	}
}

// FuzzExcludesHold asserts that no endpoint a set yields lies in an
// exclude or is unspecified, multicast or broadcast, whatever the
// families and spellings of targets and excludes. The seed corpus is a
// fixed pseudo-random sample, so plain go test runs the same inputs.
func FuzzExcludesHold(f *testing.F) {
	rng := rand.New(rand.NewPCG(1, 2))
	for range 256 {
		seed := make([]byte, 48)
		for i := range seed {
			seed[i] = byte(rng.Uint32())
		}
		f.Add(seed)
	}
	f.Fuzz(checkExcludesHold)
}
