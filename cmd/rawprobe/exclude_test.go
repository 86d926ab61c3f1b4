package main

import (
	"net/netip"
	"strings"
	"testing"
)

// TestMappedExclude checks that an exclude holds for the IPv4-mapped
// spelling of a target, and that a prefix partly inside ::ffff:0:0/96 is
// refused: both exit 2 before any engine is opened, so nothing is sent.
func TestMappedExclude(t *testing.T) {
	for _, tc := range []struct {
		args []string
		msg  string
	}{
		{[]string{"-p", "80", "::ffff:198.18.0.0/120", "--exclude", "198.18.0.0/24"}, "no targets"},
		{[]string{"-p", "80", "198.18.0.0/24", "--exclude", "::ffff:198.18.0.0/120"}, "no targets"},
		{[]string{"[::ffff:198.18.0.1]:80", "--exclude", "198.18.0.0/24"}, "no targets"},
		{[]string{"-p", "80", "::ffff:224.0.0.0/120"}, "no targets"},
		{[]string{"[::ffff:224.0.0.1]:80"}, "multicast"},
		{[]string{"-p", "80", "::/64"}, `"::/64"`},
		{[]string{"-p", "80", "::ffff:0:0/95"}, `"::ffff:0:0/95"`},
		{[]string{"-p", "80", "198.18.0.1", "--exclude", "::ffff:0:0/95"}, `"::ffff:0:0/95"`},
	} {
		c := runCLI(t, tc.args)
		if c.code != 2 || !strings.Contains(c.stderr, tc.msg) {
			t.Errorf("%q: exit %d, stderr %q; want 2 and %q", tc.args, c.code, c.stderr, tc.msg)
		}
		if len(c.opened) != 0 || len(c.fake.probed) != 0 || c.stdout != "" {
			t.Errorf("%q: opened %v, probed %v, wrote %q", tc.args, c.opened, c.fake.probed, c.stdout)
		}
	}
	// Negative control: the mapped prefix without the exclude is probed,
	// as the IPv4 addresses it maps.
	c := runCLI(t, []string{"-p", "80", "::ffff:198.18.0.0/126"})
	want := map[netip.AddrPort]bool{}
	for _, s := range []string{"198.18.0.0:80", "198.18.0.1:80", "198.18.0.2:80", "198.18.0.3:80"} {
		want[netip.MustParseAddrPort(s)] = true
	}
	if len(c.fake.probed) != len(want) {
		t.Fatalf("::ffff:198.18.0.0/126 probed %v, want %d targets", c.fake.probed, len(want))
	}
	for _, ap := range c.fake.probed {
		if !want[ap] {
			t.Errorf("::ffff:198.18.0.0/126 probed %v, want the IPv4 addresses 198.18.0.0-3", ap)
		}
	}
}
