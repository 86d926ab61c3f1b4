// Package rawcheck is rawprobe's raw engine: SYNs built by package synack are
// sent as Ethernet frames on AF_PACKET or on a raw IP socket, replies are read
// by a BPF-filtered AF_PACKET listener
// and matched to pending probes, with retries, timeouts and RTT measurement.
// The handshake is never completed: a SYN-ACK is answered with RST only.
//
// # How it works (Linux)
//
// Sending: each SYN is a synack.Template filled with the target and a
// cookie XOR the probe's nonce as its sequence number
// (synack.CookieKey.Sequence); the nonce is random per probe and kept by
// its retransmissions. Where the route leaves on an Ethernet link and the
// next hop (its gateway, or an on-link target itself) has a MAC in the
// neighbour table (netlink), it is sent as a whole Ethernet frame on an
// AF_PACKET socket, skipping the kernel's routing, netfilter and neighbour
// lookups per packet; elsewhere (loopback, tun, WireGuard, point-to-point
// links, a next hop not yet resolved) it is sent whole (IP header
// included) on an IPPROTO_RAW socket per family, through
// golang.org/x/net/ipv4 and ipv6 (PacketConn.WriteBatch).
//
// Next hops: a bounded cache (neighbour_linux.go) keeps each gateway and
// on-link target with its neighbour entry, so a cached SYN costs a map
// lookup and no allocation. It lists the table again at most every 20 ms
// while a next hop waits to be resolved, and every 10 s like the routes.
// The first SYN to an unresolved next hop goes through the raw IP socket,
// which has the kernel solicit it (ARP, NDP). If the kernel gives up on it
// (FAILED), or it is still unresolved one second (or Config.Timeout, if
// shorter) after that SYN, its probes end, when their attempt is next due,
// as Unreachable with ICMP type and code zero (counted in
// Stats.Unreachable) rather than Timeout: the kernel held their SYNs and
// none reached the link; Attempts counts the SYNs handed to the kernel.
// The AF_PACKET send socket is opened with github.com/mdlayher/packet, bound
// with protocol 0 so that it receives nothing. Either way 256 go per
// sendmmsg, on blocking sockets kept out of Go's network poller, which the
// kernel would otherwise wake for each packet freed. Scan hands full batches
// to sender goroutines, one more than CPUs (up to 4 CPUs): on veth and loopback the
// kernel handles the target's side and our own replies inside the sending
// system call.
//
// Routing: the source address and interface come from the kernel's route to
// the first target under each prefix of the main and local routing tables
// (netlink), cached per prefix, so a scan of a /16 costs one lookup. A
// target the kernel has no route to is not sent anything: it gets a
// NoRoute Result with no attempt at once (Stats.NoRoute), and a Scan goes
// on. So does a target of a Scan whose first SYN the kernel refuses (a
// local broadcast address, a prohibit route, a firewall rule on output),
// once the refusal is known.
//
// Listening: one AF_PACKET socket for every interface (github.com/mdlayher/
// packet), SOCK_DGRAM (frames start at the IP header), created with protocol
// 0 so that it queues nothing until the BPF filter from synack.Filter is in
// place and it is bound; PACKET_IGNORE_OUTGOING and a TPACKET_V3 ring sized
// from the rate and timeout follow. The ring is read a block at a time, with
// no system call and no allocation per packet.
//
// Matching: the nonce a reply carries is recovered from its cookie
// (synack.CookieKey.Nonce) without a lock; replies are then matched in
// batches, under one lock, in a pending table keyed by (target, source
// port): open addressing with 56-byte entries plus a 4-byte index slot at
// load at most 1/2 (at most 64 bytes per probe in flight). A reply answers
// its probe only if it carries the probe's nonce, so a reply recorded from
// an earlier probe of the same 4-tuple (on the path, or in a capture) is
// not a result. One carrying the nonce of the last finished probe of its
// 4-tuple counts as late (at most once per SYN that probe sent); any other
// is counted invalid and dropped.
//
// Timing: each attempt waits what the RTT estimate of its target's /24
// (IPv6: /48) gives (RFC 6298: smoothed RTT plus four times its
// variation, at least DefaultMinTimeout, at most Config.Timeout; see
// timing.go), and without Config.Attempts a silent target gets as many
// attempts as the measured loss requires for the scan to miss no open
// port. Timeouts are rounded up to a geometric series of classes, and the
// pending table keeps one send-ordered expiry list per class: each is in
// deadline order, the next probe due is the earliest of their heads, and
// those lists are the engine's one timer. Ending a Probe removes its one
// entry directly. Sending pauses between batches while the engine loses
// packets itself (ENOBUFS, ring drops).
//
// Source ports and the RST: the engine reserves one chunk of its range
// (SourcePortChunk ports, the first wholly free one) with ordinary TCP
// sockets bound to the wildcard address of both families, so no local
// connection and no other engine can take them, and its reply filter
// accepts that chunk only: engines in several processes on one host share
// a range without seeing each other's replies. By default these sockets
// do not listen: a SYN-ACK finds no socket and the kernel answers it with
// RST. With Config.OwnRST they listen behind a socket filter that drops
// everything; the kernel runs a listener's filter before any TCP
// processing, so it drops the SYN-ACK silently, and the engine's RST is the
// only one that leaves.
//
// Sweeping: Prober.Sweep keeps nothing per target, as zmap and masscan
// do. The SYNs of one batch carry one nonce, the batch's number (counted
// on across Sweeps), and the engine remembers when each of the batches
// sent within about two Config.Timeouts (at most 1 M batches) was built, so a reply's nonce
// gives its RTT and its Sweep; a reply is reported only if its batch is
// the running Sweep's and was built within Config.Timeout, and a
// keyed-hash memory of the replies reported drops duplicates. There is no pending entry, no expiry and no Timeout
// result: a target that does not answer is not reported, and each target
// gets one SYN.
//
// Namespaces and privileges: every socket is created by New, in the network
// namespace of the thread that called it; nothing that needs CAP_NET_RAW is
// opened later, so the capability may be dropped once New has returned. The
// one listener is bound to every interface, so targets behind an interface
// that appears later are probed and answered all the same.
package rawcheck
