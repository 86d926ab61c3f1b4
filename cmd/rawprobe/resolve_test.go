package main

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
)

func withResolver(r fakeResolver) runOpt { return func(e *env, _ *cli) { e.resolver = r } }

func TestAddressFamilyFlags(t *testing.T) {
	multi := withResolver(fakeResolver{"db.example": {netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("198.18.0.1"), netip.MustParseAddr("198.18.0.5")}})
	for _, c := range []struct {
		args   []string
		code   int
		probed string
	}{
		{[]string{"db.example:5432"}, 0, "198.18.0.1:5432"},
		{[]string{"-4", "db.example:5432"}, 0, "198.18.0.1:5432"},
		{[]string{"-6", "db.example:5432"}, 0, "[2001:db8::1]:5432"},
		{[]string{"--all-addresses", "db.example:5432"}, 0, "198.18.0.1:5432 198.18.0.5:5432 [2001:db8::1]:5432"},
		{[]string{"-4", "--all-addresses", "db.example:5432"}, 0, "198.18.0.1:5432 198.18.0.5:5432"},
	} {
		cl := runCLI(t, append([]string{"--seed", "1"}, c.args...), multi)
		var got []string
		for _, p := range cl.fake.probed {
			got = append(got, p.String())
		}
		slices.Sort(got)
		if cl.code != c.code || strings.Join(got, " ") != c.probed {
			t.Errorf("%q: exit %d, probed %v; want %d, %s\n%s", c.args, cl.code, got, c.code, c.probed, cl.stderr)
		}
		if strings.Count(cl.stdout, "db.example:5432") != len(got) {
			t.Errorf("%q: every result is named db.example:5432:\n%s", c.args, cl.stdout)
		}
	}
	for _, args := range [][]string{{"-4", "-6", "db.example:5432"}, {"-6", "db.example:5432"}} {
		cl := runCLI(t, args) // db.example has IPv4 only here
		if cl.code != 2 || len(cl.fake.probed) != 0 || !strings.Contains(cl.stderr, "-6") {
			t.Errorf("%q: exit %d, probed %v, stderr %q", args, cl.code, cl.fake.probed, cl.stderr)
		}
	}
}
