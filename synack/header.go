package synack

import (
	"encoding/binary"
	"net/netip"
)

// Header views in the style of gVisor's pkg/tcpip/header: a header is a byte
// slice, offsets are constants and accessors are one line each. Callers check
// lengths before using an accessor.

// Ethernet header layout.
const (
	ethTypeOffset = 12
	ethHeaderLen  = 14
	vlanHeaderLen = 4

	etherTypeIPv4 = 0x0800
	etherTypeIPv6 = 0x86dd
	etherTypeVLAN = 0x8100
)

// IPv4 header layout (RFC 791).
const (
	ipv4VersionIHL  = 0
	ipv4TotalLen    = 2
	ipv4ID          = 4
	ipv4FlagsFrag   = 6
	ipv4TTL         = 8
	ipv4Protocol    = 9
	ipv4Checksum    = 10
	ipv4Src         = 12
	ipv4Dst         = 16
	ipv4MinLen      = 20
	ipv4FlagDF      = 0x4000
	ipv4FlagMF      = 0x2000
	ipv4FragOffMask = 0x1fff
)

// IPv6 header layout (RFC 8200).
const (
	ipv6PayloadLen = 4
	ipv6NextHeader = 6
	ipv6HopLimit   = 7
	ipv6Src        = 8
	ipv6Dst        = 24
	ipv6HeaderLen  = 40
)

// IP protocol numbers.
const (
	protoICMP   = 1
	protoTCP    = 6
	protoICMPv6 = 58
)

// TCP header layout (RFC 9293).
const (
	tcpSrcPort    = 0
	tcpDstPort    = 2
	tcpSeq        = 4
	tcpAck        = 8
	tcpDataOffset = 12
	tcpFlags      = 13
	tcpWindow     = 14
	tcpChecksum   = 16
	tcpMinLen     = 20
)

// ICMP and ICMPv6 header layout (RFC 792, RFC 4443): type, code, checksum,
// four unused bytes, then the quoted packet.
const (
	icmpType      = 0
	icmpCode      = 1
	icmpHeaderLen = 8

	icmpv4DestUnreachable = 3
	icmpv6DestUnreachable = 1
)

// TCP header flags, as found in Reply.Flags.
const (
	FlagFIN = 0x01 // no more data from sender
	FlagSYN = 0x02 // synchronize sequence numbers
	FlagRST = 0x04 // reset the connection
	FlagPSH = 0x08 // push function
	FlagACK = 0x10 // acknowledgment field is significant
	FlagURG = 0x20 // urgent pointer field is significant
	FlagECE = 0x40 // ECN echo
	FlagCWR = 0x80 // congestion window reduced
)

type ipv4Header []byte

func (h ipv4Header) version() uint8      { return h[ipv4VersionIHL] >> 4 }
func (h ipv4Header) headerLen() int      { return int(h[ipv4VersionIHL]&0xf) * 4 }
func (h ipv4Header) totalLen() int       { return int(binary.BigEndian.Uint16(h[ipv4TotalLen:])) }
func (h ipv4Header) flagsFrag() uint16   { return binary.BigEndian.Uint16(h[ipv4FlagsFrag:]) }
func (h ipv4Header) ttl() uint8          { return h[ipv4TTL] }
func (h ipv4Header) protocol() uint8     { return h[ipv4Protocol] }
func (h ipv4Header) src() netip.Addr     { return netip.AddrFrom4([4]byte(h[ipv4Src:])) }
func (h ipv4Header) dst() netip.Addr     { return netip.AddrFrom4([4]byte(h[ipv4Dst:])) }
func (h ipv4Header) isFragment() bool    { return h.flagsFrag()&(ipv4FlagMF|ipv4FragOffMask) != 0 }
func (h ipv4Header) hasFragOffset() bool { return h.flagsFrag()&ipv4FragOffMask != 0 }

type ipv6Header []byte

func (h ipv6Header) version() uint8    { return h[0] >> 4 }
func (h ipv6Header) payloadLen() int   { return int(binary.BigEndian.Uint16(h[ipv6PayloadLen:])) }
func (h ipv6Header) nextHeader() uint8 { return h[ipv6NextHeader] }
func (h ipv6Header) hopLimit() uint8   { return h[ipv6HopLimit] }
func (h ipv6Header) src() netip.Addr   { return netip.AddrFrom16([16]byte(h[ipv6Src:])) }
func (h ipv6Header) dst() netip.Addr   { return netip.AddrFrom16([16]byte(h[ipv6Dst:])) }

type tcpHeader []byte

func (h tcpHeader) srcPort() uint16 { return binary.BigEndian.Uint16(h[tcpSrcPort:]) }
func (h tcpHeader) dstPort() uint16 { return binary.BigEndian.Uint16(h[tcpDstPort:]) }
func (h tcpHeader) seq() uint32     { return binary.BigEndian.Uint32(h[tcpSeq:]) }
func (h tcpHeader) ack() uint32     { return binary.BigEndian.Uint32(h[tcpAck:]) }
func (h tcpHeader) headerLen() int  { return int(h[tcpDataOffset]>>4) * 4 }
func (h tcpHeader) flags() uint8    { return h[tcpFlags] }
