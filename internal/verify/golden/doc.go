// Package golden loads the golden captures of testdata/pcaps and replays
// them without privileges.
//
// Each scenario is a pair of files written by `make pcaps`
// (internal/devtools/mkpcaps, which records them with package
// internal/verify/golden/record in an internal/verify/netlab network):
// <name>.pcap, an Ethernet capture of the prober's veth, and <name>.txt,
// key=value lines with what a replay needs: the cookie key of the SYNs,
// the flow's prober and target, the result a prober must report ([State]),
// how pcapcheck must classify the flow (a pcapcheck.Reply), and the
// flow's golden flag sequence. [Load] parses every name once and rejects
// unknown ones.
//
// [Replay] feeds a capture to synack.Parse and decides the flow's result
// the way a prober does; [FlagSequence] spells a flow's segments, e.g.
// ">S <SA >R", for the live tests that compare a fresh recording with
// the golden one. The prober's SYNs and the flag sequences are read with
// pcapcheck's decoder (pcapcheck.DecodeEthernet), the one decoder of the
// verification harness, which is independent of synack.
package golden
