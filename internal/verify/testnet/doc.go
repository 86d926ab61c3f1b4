// Package testnet builds a private two-namespace IPv4/IPv6 test network for
// rawprobe's privileged tests.
//
// [New] creates a prober and a target network namespace joined by a veth
// pair. Nothing is created or changed in the host's own namespace: the veth
// is created inside the prober namespace with its peer moved straight into
// the target, and every address, route, nft table and sysctl lives in one
// of the two namespaces. Everything is removed in t.Cleanup, also when the
// test fails or panics.
//
// The target namespace offers, for IPv4 and IPv6:
//
//   - Answering4/Answering6: every address is local (AnyIP); ports with a
//     [Listener] answer SYN-ACK, all other ports answer RST;
//   - Silent4/Silent6: routed to the target and dropped there (timeouts);
//   - Unreachable4/Unreachable6: answered with ICMP / ICMPv6 destination
//     unreachable;
//   - optional random SYN loss ([WithLoss], [Net.SetLoss]).
//
// The prober namespace has routes only to those prefixes, via the target's
// link address; it has no default route.
//
// Code runs in a namespace on a locked OS thread ([Net.InProber],
// [Net.InTarget]), as a command ([Net.ProberCmd], [Net.TargetCmd]), or, for
// code that creates sockets on threads of its own, as a re-executed copy of
// the running test inside the prober namespace ([Net.RunInProber], [Child]).
package testnet
