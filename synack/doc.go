// Package synack is rawprobe's packet core: SYN templates for IPv4 and IPv6
// with incremental checksums, keyed reply cookies, allocation-free parsing of
// SYN-ACK, RST and ICMP unreachable replies, RST crafting and the classic BPF
// programs that select those replies. It makes no system calls and builds on
// every GOOS.
//
// A probe goes like this: a Template, built once per source address and
// option set, is filled per probe with the destination, the ports and a
// sequence number from CookieKey.Sequence (the cookie XOR a per-probe
// nonce); a listener with a Filter program attached reads replies; Parse
// decodes each into a Reply; CookieKey.Nonce gives the nonce it carries,
// which answers one of our SYNs if it is that probe's (CookieKey.Validate
// for nonce 0), and Reply.Probe says which;
// BuildRST answers a SYN-ACK when the engine sends its own RST.
//
// Decisions worth knowing:
//
//   - Cookies are SipHash-2-4 over the two addresses (4 bytes each when both
//     are IPv4, otherwise 16) and the two ports; a SYN-ACK or RST validates
//     by ack == cookie+1, an ICMP error by its quoted seq == cookie, each
//     XOR the probe's nonce.
//   - Parse accepts Ethernet frames (with at most one 802.1Q tag) and bare IP
//     packets, IPv4 options included. It rejects IPv4 fragments and IPv6
//     packets with extension headers, and checks no checksum (AF_PACKET sees
//     offloaded checksums unfilled on loopback and veth devices).
//   - Filter applies Parse's rules where classic BPF can (TCP flags, IPv4
//     fragments, IPv6 extension headers, ICMP type, quoted protocol) and also
//     drops replies to other processes: the TCP destination port, or the TCP
//     source port quoted by an ICMP error, must be in the prober's range.
//     It keeps FilterSnapLen (128) bytes of an accepted packet, all that
//     Parse reads of the longest reply, so large packets that pass it take
//     no more room in a receive ring than real replies; Parse decodes frames
//     cut at that length.
//   - BuildRST sends RST only with seq = the SYN-ACK's ack (RFC 9293), as
//     Linux answers a SYN-ACK it has no connection for.
package synack
