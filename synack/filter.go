package synack

import (
	"errors"
	"fmt"

	"golang.org/x/net/bpf"
)

// FilterSnapLen is what a Filter program returns for an accepted packet:
// the number of bytes the kernel keeps of it. It is what Parse reads of the
// longest reply, with room to spare, and no more, so that a flood of large
// packets that pass the filter (RSTs with payload to the port range) takes
// little room in a listener's receive buffer or ring and cannot crowd out
// real replies. Parse decodes frames cut at this length.
//
// The longest case is an ICMPv6 error on Ethernet: 14 bytes of Ethernet
// header, 40 of IPv6, 8 of ICMPv6, the quoted IPv6 header (40) and the
// first 8 bytes of the quoted TCP header (ports and sequence number), 110
// bytes. A SYN-ACK or RST needs its IP header and the first 20 bytes of
// TCP: at most 14+40+20 for IPv6, 14+60+20 for IPv4 with options. An ICMP
// error needs 14+(20+o1)+8+(20+o2)+8 bytes, o1 and o2 the option bytes of
// the outer and the quoted IPv4 header; the quoted header is our SYN's,
// sent without options, so 110 at most unless a router added more than 18
// bytes of options to our SYN, when Parse reports ErrTruncated.
const FilterSnapLen = 128

// ErrFilter is wrapped by the errors Filter returns.
var ErrFilter = errors.New("synack: cannot build filter")

// Filter returns the classic BPF program a listener attaches to an AF_PACKET
// socket of type link. It accepts, for IPv4 and IPv6:
//
//   - TCP segments with RST set, or with SYN and ACK set and RST clear, whose
//     destination port is within [portLo, portHi];
//   - ICMP destination unreachable (type 3) and ICMPv6 destination
//     unreachable (type 1) quoting a TCP segment whose source port (the
//     prober's) is within [portLo, portHi]. For IPv4 the quote is found
//     through both header lengths, so options in either header are handled;
//     an ICMPv6 error must quote an IPv6 header followed directly by TCP.
//
// It rejects everything else, including IPv4 fragments (non-zero offset or
// more-fragments set, whose TCP header is absent or could be forged by
// overlapping), IPv6 packets whose first next header is an extension header
// rather than TCP or ICMPv6, and 802.1Q-tagged frames (the kernel normally
// strips the tag before filters run). A load beyond the end of a short packet
// makes the kernel reject it. Of accepted packets the first FilterSnapLen
// bytes are kept, all that Parse reads; rejected ones return 0.
func Filter(link LinkType, portLo, portHi uint16) ([]bpf.Instruction, error) {
	if portLo > portHi {
		return nil, fmt.Errorf("%w: port range %d-%d has its low end above its high end", ErrFilter, portLo, portHi)
	}
	var l3 uint32 // offset of the IP header
	p := &asm{labels: map[string]int{}}
	switch link {
	case LinkEthernet:
		l3 = ethHeaderLen
		p.op(bpf.LoadAbsolute{Off: ethTypeOffset, Size: 2})    // A = EtherType
		p.jump(bpf.JumpEqual, etherTypeIPv4, "ipv4", "")       // IPv4?
		p.jump(bpf.JumpEqual, etherTypeIPv6, "ipv6", "reject") // IPv6? else reject (ARP, VLAN, ...)
	case LinkIP:
		p.op(bpf.LoadAbsolute{Off: 0, Size: 1})                  // A = first byte of the IP header
		p.op(bpf.ALUOpConstant{Op: bpf.ALUOpShiftRight, Val: 4}) // A = IP version
		p.jump(bpf.JumpEqual, 4, "ipv4", "")                     // IPv4?
		p.jump(bpf.JumpEqual, 6, "ipv6", "reject")               // IPv6? else reject
	default:
		return nil, fmt.Errorf("%w: unknown link type %d", ErrFilter, link)
	}
	lo, hi := uint32(portLo), uint32(portHi)
	const quote6 = ipv6HeaderLen + icmpHeaderLen // offset of the packet an ICMPv6 error quotes

	p.label("ipv4")
	p.op(bpf.LoadAbsolute{Off: l3 + ipv4FlagsFrag, Size: 2})          // A = IPv4 flags and fragment offset
	p.jump(bpf.JumpBitsSet, ipv4FlagMF|ipv4FragOffMask, "reject", "") // fragment? reject
	p.op(bpf.LoadAbsolute{Off: l3 + ipv4Protocol, Size: 1})           // A = IPv4 protocol
	p.jump(bpf.JumpEqual, protoTCP, "", "icmp4")                      // TCP? else try ICMP
	p.op(bpf.LoadMemShift{Off: l3})                                   // X = IPv4 header length (4*IHL)
	p.op(bpf.LoadIndirect{Off: l3 + tcpDstPort, Size: 2})             // A = TCP destination port
	p.jump(bpf.JumpLessThan, lo, "reject", "")                        // below the range? reject
	p.jump(bpf.JumpGreaterThan, hi, "reject", "")                     // above the range? reject
	p.op(bpf.LoadIndirect{Off: l3 + tcpFlags, Size: 1})               // A = TCP flags
	p.jump(bpf.JumpBitsSet, FlagRST, "accept", "")                    // RST? accept
	p.op(bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: FlagSYN | FlagACK}) // A = SYN and ACK bits
	p.jump(bpf.JumpEqual, FlagSYN|FlagACK, "accept", "reject")        // both set? accept, else reject
	p.label("icmp4")
	p.jump(bpf.JumpEqual, protoICMP, "", "reject")                            // ICMP? else reject (UDP, ...)
	p.op(bpf.LoadMemShift{Off: l3})                                           // X = IPv4 header length (4*IHL)
	p.op(bpf.LoadIndirect{Off: l3 + icmpType, Size: 1})                       // A = ICMP type
	p.jump(bpf.JumpEqual, icmpv4DestUnreachable, "", "reject")                // destination unreachable? else reject
	p.op(bpf.LoadIndirect{Off: l3 + icmpHeaderLen + ipv4Protocol, Size: 1})   // A = quoted IPv4 protocol
	p.jump(bpf.JumpEqual, protoTCP, "", "reject")                             // quoting TCP? else reject
	p.op(bpf.LoadIndirect{Off: l3 + icmpHeaderLen + ipv4VersionIHL, Size: 1}) // A = quoted version and IHL
	p.op(bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: 0x0f})                      // A = quoted IHL
	p.op(bpf.ALUOpConstant{Op: bpf.ALUOpShiftLeft, Val: 2})                   // A = quoted header length
	p.op(bpf.ALUOpX{Op: bpf.ALUOpAdd})                                        // A = both header lengths
	p.op(bpf.TAX{})                                                           // X = A
	p.op(bpf.LoadIndirect{Off: l3 + icmpHeaderLen + tcpSrcPort, Size: 2})     // A = quoted TCP source port (ours)
	p.jump(bpf.JumpLessThan, lo, "reject", "")                                // below the range? reject
	p.jump(bpf.JumpGreaterThan, hi, "reject", "accept")                       // above the range? reject, else accept

	p.label("ipv6")
	p.op(bpf.LoadAbsolute{Off: l3 + ipv6NextHeader, Size: 1})             // A = IPv6 next header
	p.jump(bpf.JumpEqual, protoTCP, "", "icmp6")                          // TCP? else try ICMPv6
	p.op(bpf.LoadAbsolute{Off: l3 + ipv6HeaderLen + tcpDstPort, Size: 2}) // A = TCP destination port
	p.jump(bpf.JumpLessThan, lo, "reject", "")                            // below the range? reject
	p.jump(bpf.JumpGreaterThan, hi, "reject", "")                         // above the range? reject
	p.op(bpf.LoadAbsolute{Off: l3 + ipv6HeaderLen + tcpFlags, Size: 1})   // A = TCP flags
	p.jump(bpf.JumpBitsSet, FlagRST, "accept", "")                        // RST? accept
	p.op(bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: FlagSYN | FlagACK})     // A = SYN and ACK bits
	p.jump(bpf.JumpEqual, FlagSYN|FlagACK, "accept", "reject")            // both set? accept, else reject
	p.label("icmp6")
	p.jump(bpf.JumpEqual, protoICMPv6, "", "reject")                               // ICMPv6? else reject (extension headers, UDP, ...)
	p.op(bpf.LoadAbsolute{Off: l3 + ipv6HeaderLen + icmpType, Size: 1})            // A = ICMPv6 type
	p.jump(bpf.JumpEqual, icmpv6DestUnreachable, "", "reject")                     // destination unreachable? else reject
	p.op(bpf.LoadAbsolute{Off: l3 + quote6 + ipv6NextHeader, Size: 1})             // A = quoted IPv6 next header
	p.jump(bpf.JumpEqual, protoTCP, "", "reject")                                  // quoting TCP directly? else reject
	p.op(bpf.LoadAbsolute{Off: l3 + quote6 + ipv6HeaderLen + tcpSrcPort, Size: 2}) // A = quoted TCP source port (ours)
	p.jump(bpf.JumpLessThan, lo, "reject", "")                                     // below the range? reject
	p.jump(bpf.JumpGreaterThan, hi, "reject", "accept")                            // above the range? reject, else accept

	p.label("accept")
	p.op(bpf.RetConstant{Val: FilterSnapLen}) // keep what Parse reads
	p.label("reject")
	p.op(bpf.RetConstant{Val: 0}) // drop the packet
	return p.assemble()
}

// asm resolves the labels of conditional jumps into skip counts.
type asm struct {
	ins    []bpf.Instruction
	labels map[string]int
	jumps  []labelledJump
}

// labelledJump is a conditional jump whose targets are labels; "" is the
// next instruction.
type labelledJump struct {
	at              int
	ifTrue, ifFalse string
}

func (p *asm) op(i bpf.Instruction) { p.ins = append(p.ins, i) }

func (p *asm) label(name string) { p.labels[name] = len(p.ins) }

func (p *asm) jump(cond bpf.JumpTest, val uint32, ifTrue, ifFalse string) {
	p.jumps = append(p.jumps, labelledJump{len(p.ins), ifTrue, ifFalse})
	p.op(bpf.JumpIf{Cond: cond, Val: val})
}

func (p *asm) skip(from int, label string) (uint8, error) {
	if label == "" {
		return 0, nil
	}
	to, ok := p.labels[label]
	if !ok || to <= from || to-from-1 > 255 {
		return 0, fmt.Errorf("%w: jump from %d to label %q out of reach", ErrFilter, from, label)
	}
	return uint8(to - from - 1), nil
}

func (p *asm) assemble() ([]bpf.Instruction, error) {
	for _, j := range p.jumps {
		in := p.ins[j.at].(bpf.JumpIf)
		var err error
		if in.SkipTrue, err = p.skip(j.at, j.ifTrue); err != nil {
			return nil, err
		}
		if in.SkipFalse, err = p.skip(j.at, j.ifFalse); err != nil {
			return nil, err
		}
		p.ins[j.at] = in
	}
	return p.ins, nil
}
