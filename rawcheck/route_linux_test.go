package rawcheck

import (
	"net/netip"
	"testing"
)

// TestRouterSpan checks the fast path's reach inside a table prefix that
// holds a longer one (a subnet and its local broadcast address): as large
// as possible around the target, never covering the longer prefix.
func TestRouterSpan(t *testing.T) {
	r := &router{table: []tablePrefix{
		{prefix: netip.MustParsePrefix("198.19.255.255/32"), local: true, leaf: true},
		{prefix: netip.MustParsePrefix("198.18.0.0/15")},
		{prefix: netip.MustParsePrefix("0.0.0.0/0")},
	}}
	p := netip.MustParsePrefix("198.18.0.0/15")
	for _, c := range []struct{ dst, want string }{
		{"198.19.128.5", "198.19.128.0/18"},
		{"198.18.7.1", "198.18.0.0/16"},
		{"198.19.255.254", "198.19.255.254/32"},
	} {
		dst := netip.MustParseAddr(c.dst)
		got := r.span(dst, p)
		if got.String() != c.want {
			t.Errorf("span(%v, %v) = %v, want %v", dst, p, got, c.want)
		}
		if !got.Contains(dst) || got.Contains(netip.MustParseAddr("198.19.255.255")) {
			t.Errorf("span(%v, %v) = %v: must hold %v and not the broadcast address", dst, p, got, dst)
		}
	}
}
