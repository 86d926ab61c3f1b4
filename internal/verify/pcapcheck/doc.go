// Package pcapcheck captures a test's packets and checks that every TCP
// handshake the prober started ended the way rawprobe promises: SYN, then
// SYN-ACK answered by exactly one RST and never by an ACK or data.
//
// [Start] captures on an interface (normally the prober's veth of an
// internal/verify/netlab network) with an AF_PACKET socket in pure Go and
// writes a pcap file to the test's temporary directory; the file is kept,
// and its path logged, when the test fails. Start takes a [TB], the few
// methods of testing.TB it uses, so the package does not import testing
// and programs can link it. [Open] is the same capture for programs
// (rawprobe demo, the golden recordings): it writes the file it is given,
// optionally with another snaplen and a frame filter, and
// [Capture.Report] analyses it. [AnalyzeFile] (or [Capture.Analyze])
// reads a capture and returns a [Report]: one [Flow] per handshake, the
// violations of the rules, the reply counts and the SYN-ACK → RST gap.
//
// The analysis and the decoder ([DecodeEthernet], [DecodeIP], turning one
// frame into a [Segment]) are those of the public package
// github.com/rawprobe/rawprobe/pcapverify, named here by aliases: one
// implementation for the harness (internal/verify/golden too), the demo,
// `rawprobe verify` and other projects' tests. The decoder is deliberately
// independent of package synack: it reads the few header offsets it needs
// itself, so that a bug in synack's packet code cannot hide itself in the
// tests that check synack.
//
// The rules, per flow (4-tuple; the prober is the side that sent the SYN):
//
//   - the prober sent a SYN (retransmissions with the same sequence
//     number allowed);
//   - the target answered SYN-ACK, RST, ICMP destination unreachable, or
//     nothing;
//   - after a SYN-ACK the prober sent exactly one RST (RST or RST+ACK) and
//     never a segment carrying ACK alone, FIN or any payload.
package pcapcheck
