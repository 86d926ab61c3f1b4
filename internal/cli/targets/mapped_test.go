package targets

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"strings"
	"testing"
)

// mappedResolver answers with IPv4-mapped IPv6 addresses, as a resolver
// on a dual-stack host may.
var mappedResolver = fakeResolver{
	"mapped.example":    {netip.MustParseAddr("2001:db8::7"), netip.MustParseAddr("::ffff:198.18.0.7")},
	"multicast.example": {netip.MustParseAddr("::ffff:224.0.0.1")},
}

func buildWith(ports Ports, excludes string, tokens ...string) (*Set, error) {
	b := &Builder{Resolver: mappedResolver, Ports: ports}
	for _, tok := range tokens {
		if err := b.Add(context.Background(), tok); err != nil {
			return nil, err
		}
	}
	if err := b.Exclude(excludes); err != nil {
		return nil, err
	}
	return b.Build()
}

// TestMappedSpellings checks that IPv4-mapped spellings of addresses,
// prefixes, ranges, host:port forms and resolved names yield the IPv4
// endpoints they map, and that IPv6 addresses next to ::ffff:0:0/96 stay
// IPv6 (the negative control).
func TestMappedSpellings(t *testing.T) {
	for _, tc := range []struct {
		token string
		want  []string
	}{
		{"::ffff:198.18.0.1", []string{"198.18.0.1:80"}},
		{"::ffff:c612:1", []string{"198.18.0.1:80"}},
		{"0:0:0:0:0:ffff:198.18.0.1", []string{"198.18.0.1:80"}},
		{"[::ffff:198.18.0.1]:443", []string{"198.18.0.1:443"}},
		{"::ffff:198.18.0.0/126", []string{"198.18.0.0:80", "198.18.0.1:80", "198.18.0.2:80", "198.18.0.3:80"}},
		{"::ffff:198.18.0.9/127", []string{"198.18.0.8:80", "198.18.0.9:80"}},
		{"[::ffff:198.18.0.0/127]:443", []string{"198.18.0.0:443", "198.18.0.1:443"}},
		{"::ffff:198.18.0.255-::ffff:198.18.1.0", []string{"198.18.0.255:80", "198.18.1.0:80"}},
		{"198.18.0.255-::ffff:198.18.1.0", []string{"198.18.0.255:80", "198.18.1.0:80"}},
		{"[::ffff:198.18.0.1-::ffff:198.18.0.2]:443", []string{"198.18.0.1:443", "198.18.0.2:443"}},
		{"mapped.example", []string{"mapped.example:80"}},
		{"::ffff:0.0.0.0/126", []string{"0.0.0.1:80", "0.0.0.2:80", "0.0.0.3:80"}},
		{"::ffff:223.255.255.255-::ffff:224.0.0.1", []string{"223.255.255.255:80"}},
		// Next to the mapped block, not in it: IPv6.
		{"::fffe:ffff:ffff", []string{"[::fffe:ffff:ffff]:80"}},
		{"::1:0:0:0/127", []string{"[::1:0:0:0]:80", "[::1:0:0:1]:80"}},
		{"::fffe:ffff:fffe-::fffe:ffff:ffff", []string{"[::fffe:ffff:fffe]:80", "[::fffe:ffff:ffff]:80"}},
	} {
		s, err := buildWith(SinglePort(80), "", tc.token)
		if err != nil {
			t.Errorf("%q: %v", tc.token, err)
			continue
		}
		if got := all(s); !slices.Equal(got, tc.want) {
			t.Errorf("%q = %v, want %v", tc.token, got, tc.want)
		}
		for i := range s.Len() {
			if a := s.At(i).Addr(); a.Is4In6() {
				t.Errorf("%q yields the mapped address %v", tc.token, a)
			}
		}
	}
	s, err := buildWith(SinglePort(80), "", "::ffff:0:0/96")
	if err != nil || s.Len() != 1<<32-1-1<<28-1 || s.At(0).String() != "0.0.0.1:80" {
		t.Errorf("::ffff:0:0/96 is not 0.0.0.0/0 less the never-probed addresses: %v, %v", s, err)
	}
}

// TestMappedExcludes checks that an exclude holds whichever way the target
// and the exclude spell the address: the user's case
// `-p 80 ::ffff:198.18.0.0/120 --exclude 198.18.0.0/24` leaves nothing.
func TestMappedExcludes(t *testing.T) {
	for _, tc := range []struct {
		targets  []string
		excludes string
		want     []string // nil: no targets left
	}{
		{[]string{"::ffff:198.18.0.0/120"}, "198.18.0.0/24", nil},
		{[]string{"198.18.0.0/24"}, "::ffff:198.18.0.0/120", nil},
		{[]string{"::ffff:198.18.0.0/120"}, "::ffff:198.18.0.0-::ffff:198.18.0.255", nil},
		{[]string{"[::ffff:198.18.0.1]:80", "::ffff:198.18.0.2", "mapped.example"}, "198.18.0.0/24", nil},
		{[]string{"198.18.0.0/30"}, "::ffff:198.18.0.0/127, ::ffff:c612:3", []string{"198.18.0.2:80"}},
		{[]string{"::ffff:198.18.0.0/126"}, "198.18.0.1-::ffff:198.18.0.2", []string{"198.18.0.0:80", "198.18.0.3:80"}},
		{[]string{"mapped.example", "198.18.0.8"}, "::ffff:198.18.0.7", []string{"198.18.0.8:80"}},
		// An IPv6 exclude next to the mapped block does not touch IPv4.
		{[]string{"::ffff:198.18.0.0/127"}, "::fffe:ffff:ffff,::1:0:0:0/96", []string{"198.18.0.0:80", "198.18.0.1:80"}},
	} {
		s, err := buildWith(SinglePort(80), tc.excludes, tc.targets...)
		if tc.want == nil {
			if err == nil || !strings.Contains(err.Error(), "no targets left") {
				t.Errorf("%v less %q: set %v, err %v; want no targets left", tc.targets, tc.excludes, s, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%v less %q: %v", tc.targets, tc.excludes, err)
			continue
		}
		if got := all(s); !slices.Equal(got, tc.want) {
			t.Errorf("%v less %q = %v, want %v", tc.targets, tc.excludes, got, tc.want)
		}
	}
}

// TestMappedGuards checks that the unspecified, multicast and broadcast
// guards see the mapped spellings of those addresses.
func TestMappedGuards(t *testing.T) {
	for _, tc := range []struct{ token, reason string }{
		{"[::ffff:0.0.0.0]:80", "unspecified"},
		{"[::ffff:224.0.0.1]:80", "multicast"},
		{"[::ffff:239.255.255.255/128]:80", "multicast"},
		{"[::ffff:255.255.255.255]:80", "broadcast"},
		{"::ffff:255.255.255.255-::ffff:255.255.255.255", "broadcast"},
		{"multicast.example:80", "multicast"},
	} {
		_, err := buildWith(SinglePort(80), "", tc.token)
		if err == nil || !strings.Contains(err.Error(), tc.token) || !strings.Contains(err.Error(), tc.reason) {
			t.Errorf("%q: err = %v, want %s naming the token", tc.token, err, tc.reason)
		}
		if !strings.HasPrefix(tc.token, "[") {
			continue // not a literal host:port
		}
		if _, err := ParseEndpoint(tc.token); err == nil || !strings.Contains(err.Error(), tc.reason) {
			t.Errorf("ParseEndpoint(%q): err = %v, want %s", tc.token, err, tc.reason)
		}
	}
	for _, tok := range []string{"::ffff:224.0.0.0/120", "::ffff:255.255.255.255/128", "::ffff:0.0.0.0/128"} {
		if s, err := buildWith(SinglePort(80), "", tok); err == nil {
			t.Errorf("%q: built %v", tok, all(s))
		}
	}
	if ep, err := ParseEndpoint("[::ffff:198.18.0.1/128]:80"); err != nil || ep.Addr != netip.MustParseAddr("198.18.0.1") {
		t.Errorf("ParseEndpoint of a mapped /128 = %+v, %v", ep, err)
	}
}

// TestStraddlingMappedBlock checks that a prefix or range partly inside
// ::ffff:0:0/96 is refused, as target and as exclude, naming the token.
func TestStraddlingMappedBlock(t *testing.T) {
	for _, tok := range []string{
		"::/64", "::ffff:0:0/95", "::/0", "[::/80]:80",
		"::1-::ffff:198.18.0.1", "::ffff:255.255.255.255-::1:0:0:0",
		"::fffe:ffff:ffff-::ffff:0:0", "::1-::1:0:0:0", "[::1-::1:0:0:0]:80",
	} {
		_, err := buildWith(SinglePort(80), "", tok)
		var te *Error
		if !errors.As(err, &te) || te.Token != tok || !strings.Contains(err.Error(), "::ffff:0:0/96") {
			t.Errorf("target %q: err = %v, want *Error naming it and ::ffff:0:0/96", tok, err)
		}
		if strings.HasPrefix(tok, "[") {
			continue
		}
		err = (&Builder{}).Exclude("198.18.0.0/24," + tok)
		if !errors.As(err, &te) || te.Token != tok || !strings.Contains(err.Error(), "::ffff:0:0/96") {
			t.Errorf("exclude %q: err = %v, want *Error naming it and ::ffff:0:0/96", tok, err)
		}
	}
	if _, err := buildWith(SinglePort(80), "", "::1-198.18.0.1"); err == nil || !strings.Contains(err.Error(), "mixes IPv4 and IPv6") {
		t.Errorf("::1-198.18.0.1: err = %v", err)
	}
}
