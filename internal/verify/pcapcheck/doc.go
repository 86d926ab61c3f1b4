// Package pcapcheck captures a test's packets and checks that every TCP
// handshake the prober started ended the way rawprobe promises: SYN, then
// SYN-ACK answered by exactly one RST and never by an ACK or data.
//
// [Start] captures on an interface (normally the prober's veth of an
// internal/verify/testnet network) with an AF_PACKET socket in pure Go and writes
// a pcap file to the test's temporary directory; the file is kept, and its
// path logged, when the test fails. [Open] is the same capture for
// programs (rawprobe demo, the golden recordings): it writes the file it
// is given, optionally with another snaplen and a frame filter, and
// [Capture.Report] analyses it. [AnalyzeFile] (or [Capture.Analyze])
// reads a pcap and returns a [Report]: one [Flow] per handshake, the
// violations of the rules, the reply counts and the SYN-ACK → RST gap.
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
