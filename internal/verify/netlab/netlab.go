package netlab

import (
	"fmt"
	"net/netip"
)

// The prefixes and link addresses every Net uses. They are the same in
// every Net: each Net has namespaces of its own, so they never clash.
var (
	proberAddr4  = netip.MustParseAddr("198.19.254.1")
	targetAddr4  = netip.MustParseAddr("198.19.254.2")
	linkPrefix4  = 24
	proberAddr6  = netip.MustParseAddr("2001:db8:ffff::1")
	targetAddr6  = netip.MustParseAddr("2001:db8:ffff::2")
	linkPrefix6  = 64
	answering4   = netip.MustParsePrefix("198.18.0.0/16")
	answering6   = netip.MustParsePrefix("2001:db8:a::/64")
	silent4      = netip.MustParsePrefix("198.19.0.0/24")
	silent6      = netip.MustParsePrefix("2001:db8:5::/64")
	unreachable4 = netip.MustParsePrefix("203.0.113.0/24")
	unreachable6 = netip.MustParsePrefix("2001:db8:e::/64")
)

// Net is a network made by Setup: a prober and a target namespace joined
// by a veth pair. All fields are set by Setup and must not be changed.
type Net struct {
	// ProberNS and TargetNS are the namespace names, usable with
	// `ip netns exec` and `ip -n`.
	ProberNS, TargetNS string
	// ProberLink and TargetLink are the names of the two ends of the veth
	// pair, in the prober and in the target namespace.
	ProberLink, TargetLink string
	// ProberAddr4 and TargetAddr4 are the IPv4 addresses of the two ends
	// of the link (inside 198.19.0.0/16).
	ProberAddr4, TargetAddr4 netip.Addr
	// ProberAddr6 and TargetAddr6 are the IPv6 addresses of the two ends
	// of the link (inside 2001:db8::/32).
	ProberAddr6, TargetAddr6 netip.Addr
	// Answering4 and Answering6 are prefixes in which every address is
	// local to the target (AnyIP): a port with a Listener answers SYN-ACK,
	// any other port RST. Answering4 is a /16 inside 198.18.0.0/15.
	Answering4, Answering6 netip.Prefix
	// Silent4 and Silent6 are routed to the target and silently dropped
	// there.
	Silent4, Silent6 netip.Prefix
	// Unreachable4 and Unreachable6 are answered by the target with ICMP
	// host unreachable and ICMPv6 address unreachable, one per SYN and
	// without rate limit. A connect() to them fails with EHOSTUNREACH on
	// the first ICMP error for IPv4; for IPv6 it may fail only on the
	// error answering its first SYN retransmission, about a second later:
	// an error that arrives while connect still holds the socket is a soft
	// error.
	Unreachable4, Unreachable6 netip.Prefix
}

// options collects what the Options given to Setup ask for.
type options struct {
	loss float64
}

// Option changes how Setup builds the network.
type Option func(*options)

// WithLoss makes the target drop the given fraction (0 to 1) of the TCP
// SYNs that arrive on its link, at random (nft numgen random). Values
// outside [0, 1] make Setup fail.
func WithLoss(fraction float64) Option {
	return func(o *options) { o.loss = fraction }
}

// lossRule checks fraction and converts it to the numgen threshold out of
// 10000.
func lossRule(fraction float64) (int, error) {
	if !(fraction >= 0 && fraction <= 1) { // also rejects NaN
		return 0, fmt.Errorf("netlab: loss fraction %v is outside [0, 1]", fraction)
	}
	return int(fraction*10000 + 0.5), nil
}

// Nth returns address number i of prefix p, counting p's first address
// as 0: Nth(Answering4, 5) is 198.18.0.5. It does not check that the
// address is still inside p.
func Nth(p netip.Prefix, i int) netip.Addr {
	a := p.Masked().Addr()
	for range i {
		a = a.Next()
	}
	return a
}
