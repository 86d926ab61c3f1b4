// Package netlab builds a private two-namespace IPv4/IPv6 network: a
// prober and a target network namespace joined by a veth pair. It is the
// network of rawprobe's privileged tests (through package
// internal/verify/testnet, which adds the testing.TB layer on top of it)
// and of the programs that need the same network: `rawprobe demo`,
// `make pcaps` and `make bench`. It does not import package testing, so
// the rawprobe command can link it.
//
// [Setup] builds a network and returns the function that removes it.
// Nothing is created or changed in the host's own namespace: the veth is
// created inside the prober namespace with its peer moved straight into
// the target, and every address, route, nft table and sysctl lives in one
// of the two namespaces. [SetupRemovedOnExit] also removes the network
// when the program is interrupted; [RemoveStale] removes the namespaces of
// creators that died without removing them.
//
// The target namespace offers, for IPv4 and IPv6:
//
//   - Answering4/Answering6: every address is local (AnyIP); ports with a
//     [Listener] ([Net.Listen]) answer SYN-ACK, all other ports answer RST;
//   - Silent4/Silent6: routed to the target and dropped there (timeouts);
//   - Unreachable4/Unreachable6: answered with ICMP / ICMPv6 destination
//     unreachable;
//   - optional random SYN loss ([WithLoss], [Net.SetLoss]);
//   - optional delay paths ([Net.AddDelayPath]): IPv4 prefixes whose SYNs
//     a responder on a tun device answers with SYN-ACKs after a chosen
//     delay and jitter, for tests of adaptive timing on a kernel without
//     netem.
//
// The prober namespace has routes only to those prefixes, via the target's
// link address; it has no default route.
//
// Code runs in a namespace on a locked OS thread ([Net.InProber],
// [Net.InTarget]) or as a command ([Net.ProberCmd], [Net.TargetCmd]).
package netlab
