// Package pcapverify reads a packet capture and tells, for every TCP
// handshake it shows opening, whether the handshake was completed: whether
// the side that sent the SYN answered the SYN-ACK with an ACK or data (a
// connection the server's application accepted) or, as a half-open check
// must, with a single RST.
//
// rawprobe promises SYN → SYN-ACK → RST and never the final ACK; this
// package checks that promise on any capture — tcpdump's, Wireshark's
// (pcap or pcapng) or rawprobe's own --pcap — so that the tests of other
// projects can assert on their captures what rawprobe's tests assert on
// theirs. `rawprobe verify FILE` is its command-line form.
//
// [AnalyzeFile] (or [Analyze] on a reader) returns a [Report]: one [Flow]
// per handshake (a 4-tuple and initial sequence number; the prober is the
// side that sent the SYN) with the target's reply, whether the handshake
// was [Flow.Completed], and the SYN-ACK → RST gap; the violations of the
// rules below; counts by reply; and the gap percentiles. [Report.Err] is
// nil when no rule was broken.
//
// The rules, per flow:
//
//   - the prober sent a SYN (retransmissions with the same sequence
//     number allowed);
//   - the target answered SYN-ACK, RST, ICMP destination unreachable, or
//     nothing;
//   - after a SYN-ACK the prober sent exactly one RST (RST or RST+ACK) and
//     never a segment carrying ACK alone, FIN or any payload.
//
// [DecodeEthernet] and [DecodeIP] turn one frame into a [Segment]. The
// decoder is deliberately independent of rawprobe's packet code (package
// synack): it reads the few header offsets it needs itself, so that a bug
// in synack cannot hide itself in the checks of synack's output. The
// package imports no other rawprobe package.
package pcapverify
