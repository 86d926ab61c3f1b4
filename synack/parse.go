package synack

import (
	"encoding/binary"
	"errors"
	"net/netip"
)

// LinkType says what precedes the IP header in a frame given to Parse.
type LinkType uint8

const (
	// LinkEthernet frames start with a 14-byte Ethernet header whose
	// EtherType is IPv4 (0x0800) or IPv6 (0x86dd), as AF_PACKET SOCK_RAW
	// delivers them on Ethernet devices, veth pairs and the loopback device
	// (whose header has zero MAC addresses). Parse also accepts one 802.1Q
	// VLAN tag (EtherType 0x8100); Filter does not, since the kernel
	// normally strips the tag into packet metadata before filters run.
	LinkEthernet LinkType = iota + 1
	// LinkIP frames start at the IP header, as AF_PACKET SOCK_DGRAM
	// delivers them; the version nibble tells IPv4 from IPv6.
	LinkIP
)

// String returns the name of the link type.
func (l LinkType) String() string {
	switch l {
	case LinkEthernet:
		return "ethernet"
	case LinkIP:
		return "ip"
	}
	return "unknown link type"
}

// Kind is the kind of a reply.
type Kind uint8

const (
	// KindSYNACK is a TCP segment with SYN and ACK set and RST clear: the
	// port is open.
	KindSYNACK Kind = iota + 1
	// KindRST is a TCP segment with RST set: the port is closed.
	KindRST
	// KindUnreachable is an ICMP destination unreachable (type 3) or ICMPv6
	// destination unreachable (type 1) quoting a TCP segment.
	KindUnreachable
)

// String returns the name of the kind.
func (k Kind) String() string {
	switch k {
	case KindSYNACK:
		return "syn-ack"
	case KindRST:
		return "rst"
	case KindUnreachable:
		return "unreachable"
	}
	return "unknown kind"
}

// Reply is a decoded reply to a SYN: the flat result of Parse.
type Reply struct {
	// Kind is what the reply is.
	Kind Kind
	// Src and Dst are the addresses of the reply packet itself; for
	// KindUnreachable, Src is the router or host that sent the error.
	Src, Dst netip.Addr
	// SrcPort and DstPort are the TCP ports of the reply; 0 for
	// KindUnreachable.
	SrcPort, DstPort uint16
	// Seq, Ack and Flags are the TCP fields of the reply; 0 for
	// KindUnreachable.
	Seq, Ack uint32
	Flags    uint8
	// TTL is the IPv4 TTL or IPv6 hop limit of the reply.
	TTL uint8
	// ICMPType and ICMPCode are the ICMP or ICMPv6 type and code of a
	// KindUnreachable reply.
	ICMPType, ICMPCode uint8
	// OrigSrc, OrigDst, OrigSrcPort, OrigDstPort and OrigSeq are the
	// addresses, ports and sequence number of the SYN quoted by a
	// KindUnreachable reply.
	OrigSrc, OrigDst         netip.Addr
	OrigSrcPort, OrigDstPort uint16
	OrigSeq                  uint32
}

// Errors returned by Parse. Each names the documented reason a frame is not
// decoded; Parse returns them unwrapped, so == and errors.Is both work.
var (
	// ErrLinkType: the LinkType passed to Parse is unknown.
	ErrLinkType = errors.New("synack: unknown link type")
	// ErrTruncated: the frame ends before a header or field Parse reads.
	// A frame cut short after those (by a capture's snap length, such as
	// Filter's) is decoded.
	ErrTruncated = errors.New("synack: truncated packet")
	// ErrNotIP: the frame's EtherType or IP version is neither IPv4 nor IPv6.
	ErrNotIP = errors.New("synack: not an IPv4 or IPv6 packet")
	// ErrMalformed: a header is inconsistent (version nibble differing from
	// the EtherType, IPv4 header length below 20 or beyond the total length,
	// TCP data offset below 20 or beyond the segment).
	ErrMalformed = errors.New("synack: malformed packet")
	// ErrFragment: the IPv4 packet is a fragment (more-fragments flag or a
	// non-zero offset). Replies to a SYN are never fragmented.
	ErrFragment = errors.New("synack: IPv4 fragment")
	// ErrIPv6Extension: the IPv6 header is followed by an extension header
	// instead of TCP or ICMPv6. Replies to a SYN carry none, and Filter
	// rejects them too.
	ErrIPv6Extension = errors.New("synack: IPv6 extension header")
	// ErrNotReply: a well-formed packet that is not a reply to a SYN: not
	// TCP, ICMP or ICMPv6; a TCP segment with neither RST nor both SYN and
	// ACK; an ICMP message other than destination unreachable; or an ICMP
	// error quoting something other than the start of a TCP segment.
	ErrNotReply = errors.New("synack: not a reply to a SYN")
)

// Parse decodes frame, as AF_PACKET delivers it on a device of type link,
// into r, which it overwrites entirely. It returns one of the sentinel errors
// above, leaving r the zero Reply, when the frame is not a decodable reply.
// It never panics, never reads beyond frame and allocates nothing. Bytes
// beyond the length the IP header claims (Ethernet padding) are ignored;
// bytes missing from the end of a frame cut short are not needed as long
// as the headers Parse reads are whole: the IP header, then the TCP
// header's first 20 bytes (its options are not read), or the ICMP header
// and the quoted IP header with the first 8 bytes of TCP. The lengths the
// headers claim are checked against each other, not against the frame.
//
// Parse checks no checksum: on the loopback device and on veth pairs with
// checksum offload, AF_PACKET sees TCP segments whose checksum is not yet
// filled in. Whether a reply answers one of our SYNs is decided by
// CookieKey.Validate.
func Parse(frame []byte, link LinkType, r *Reply) error {
	*r = Reply{}
	err := parseFrame(frame, link, r)
	if err != nil {
		*r = Reply{}
	}
	return err
}

func parseFrame(frame []byte, link LinkType, r *Reply) error {
	switch link {
	case LinkEthernet:
		if len(frame) < ethHeaderLen {
			return ErrTruncated
		}
		etherType := binary.BigEndian.Uint16(frame[ethTypeOffset:])
		pkt := frame[ethHeaderLen:]
		if etherType == etherTypeVLAN {
			if len(pkt) < vlanHeaderLen {
				return ErrTruncated
			}
			etherType = binary.BigEndian.Uint16(pkt[2:])
			pkt = pkt[vlanHeaderLen:]
		}
		switch etherType {
		case etherTypeIPv4:
			return parseIPv4(pkt, r)
		case etherTypeIPv6:
			return parseIPv6(pkt, r)
		}
		return ErrNotIP
	case LinkIP:
		if len(frame) == 0 {
			return ErrTruncated
		}
		switch frame[0] >> 4 {
		case 4:
			return parseIPv4(frame, r)
		case 6:
			return parseIPv6(frame, r)
		}
		return ErrNotIP
	}
	return ErrLinkType
}

func parseIPv4(p []byte, r *Reply) error {
	if len(p) < ipv4MinLen {
		return ErrTruncated
	}
	ip := ipv4Header(p)
	hl, tl := ip.headerLen(), ip.totalLen()
	if ip.version() != 4 || hl < ipv4MinLen || tl < hl {
		return ErrMalformed
	}
	if hl > len(p) {
		return ErrTruncated
	}
	if ip.isFragment() {
		return ErrFragment
	}
	r.Src, r.Dst, r.TTL = ip.src(), ip.dst(), ip.ttl()
	payload := p[hl:min(tl, len(p))]
	switch ip.protocol() {
	case protoTCP:
		return parseTCP(payload, tl-hl, r)
	case protoICMP:
		return parseICMPv4(payload, r)
	}
	return ErrNotReply
}

func parseIPv6(p []byte, r *Reply) error {
	if len(p) < ipv6HeaderLen {
		return ErrTruncated
	}
	ip := ipv6Header(p)
	if ip.version() != 6 {
		return ErrMalformed
	}
	end := ipv6HeaderLen + ip.payloadLen()
	r.Src, r.Dst, r.TTL = ip.src(), ip.dst(), ip.hopLimit()
	payload := p[ipv6HeaderLen:min(end, len(p))]
	switch ip.nextHeader() {
	case protoTCP:
		return parseTCP(payload, ip.payloadLen(), r)
	case protoICMPv6:
		return parseICMPv6(payload, r)
	case 0, 43, 44, 50, 51, 60, 135, 139, 140, 253, 254:
		// Hop-by-hop, routing, fragment, ESP, AH, destination options,
		// mobility, HIP, shim6 and the experimental values (RFC 7045).
		return ErrIPv6Extension
	}
	return ErrNotReply
}

// parseTCP decodes the segment whose first bytes are p and whose length,
// as the IP header claims it, is segLen (p may be cut short after the
// first 20 bytes).
func parseTCP(p []byte, segLen int, r *Reply) error {
	if segLen < tcpMinLen || len(p) < tcpMinLen {
		return ErrTruncated
	}
	tcp := tcpHeader(p)
	if hl := tcp.headerLen(); hl < tcpMinLen || hl > segLen {
		return ErrMalformed
	}
	flags := tcp.flags()
	switch {
	case flags&FlagRST != 0:
		r.Kind = KindRST
	case flags&(FlagSYN|FlagACK) == FlagSYN|FlagACK:
		r.Kind = KindSYNACK
	default:
		return ErrNotReply
	}
	r.SrcPort, r.DstPort = tcp.srcPort(), tcp.dstPort()
	r.Seq, r.Ack, r.Flags = tcp.seq(), tcp.ack(), flags
	return nil
}

func parseICMPv4(p []byte, r *Reply) error {
	if len(p) < icmpHeaderLen {
		return ErrTruncated
	}
	if p[icmpType] != icmpv4DestUnreachable {
		return ErrNotReply
	}
	q := p[icmpHeaderLen:]
	if len(q) < ipv4MinLen {
		return ErrTruncated
	}
	ip := ipv4Header(q)
	hl := ip.headerLen()
	if ip.version() != 4 || hl < ipv4MinLen {
		return ErrMalformed
	}
	if len(q) < hl+8 {
		return ErrTruncated
	}
	if ip.protocol() != protoTCP || ip.hasFragOffset() {
		return ErrNotReply
	}
	setQuote(r, p[icmpType], p[icmpCode], ip.src(), ip.dst(), tcpHeader(q[hl:]))
	return nil
}

func parseICMPv6(p []byte, r *Reply) error {
	if len(p) < icmpHeaderLen {
		return ErrTruncated
	}
	if p[icmpType] != icmpv6DestUnreachable {
		return ErrNotReply
	}
	q := p[icmpHeaderLen:]
	if len(q) < ipv6HeaderLen {
		return ErrTruncated
	}
	ip := ipv6Header(q)
	if ip.version() != 6 {
		return ErrMalformed
	}
	if ip.nextHeader() != protoTCP {
		return ErrNotReply
	}
	if len(q) < ipv6HeaderLen+8 {
		return ErrTruncated
	}
	setQuote(r, p[icmpType], p[icmpCode], ip.src(), ip.dst(), tcpHeader(q[ipv6HeaderLen:]))
	return nil
}

// setQuote fills the KindUnreachable fields of r from the ICMP header and
// the quoted IP addresses and first 8 bytes of TCP (ports and seq).
func setQuote(r *Reply, typ, code uint8, src, dst netip.Addr, tcp tcpHeader) {
	r.Kind, r.ICMPType, r.ICMPCode = KindUnreachable, typ, code
	r.OrigSrc, r.OrigDst = src, dst
	r.OrigSrcPort, r.OrigDstPort, r.OrigSeq = tcp.srcPort(), tcp.dstPort(), tcp.seq()
}

// Probe returns the prober and target of the SYN that r answers: for a
// SYN-ACK or RST the reply's destination and source, for an ICMP error the
// quoted SYN's source and destination.
func (r *Reply) Probe() (prober, target netip.AddrPort) {
	if r.Kind == KindUnreachable {
		return netip.AddrPortFrom(r.OrigSrc, r.OrigSrcPort), netip.AddrPortFrom(r.OrigDst, r.OrigDstPort)
	}
	return netip.AddrPortFrom(r.Dst, r.DstPort), netip.AddrPortFrom(r.Src, r.SrcPort)
}
