package synack

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"sync/atomic"
)

// TCPOptions selects the options a SYN carries. They are emitted in the
// order and layout Linux uses for its own SYNs: MSS, then SACK-permitted and
// timestamps (sharing one word when both are on), then NOP and window scale.
type TCPOptions struct {
	// MSS is the maximum segment size option; 0 sends none.
	MSS uint16
	// SACKPermitted sends the SACK-permitted option.
	SACKPermitted bool
	// Timestamps sends the timestamps option with TSval and a zero TSecr.
	Timestamps bool
	// TSval is the timestamp value sent when Timestamps is set. It is fixed
	// per template.
	TSval uint32
	// WindowScale is the window scale shift count, 0..14; -1 sends none.
	// Note that the zero value sends a window scale option with shift 0.
	WindowScale int
}

// IPIDPolicy says how the IPv4 identification field of each SYN is chosen.
// IPv6 has no such field and ignores it. SYNs always carry Don't Fragment.
type IPIDPolicy uint8

const (
	// IPIDZero sends identification 0, as Linux does for DF packets of
	// connectionless sockets.
	IPIDZero IPIDPolicy = iota
	// IPIDCounter sends a per-template counter starting at a random value.
	IPIDCounter
	// IPIDRandom sends a random identification per SYN.
	IPIDRandom
)

// TemplateConfig describes the SYNs a Template builds.
type TemplateConfig struct {
	// Src is the prober's source address, IPv4 or IPv6. An IPv4-mapped IPv6
	// address is used as IPv4; a zone is ignored.
	Src netip.Addr
	// Options are the TCP options of each SYN.
	Options TCPOptions
	// Window is the TCP window; 0 means 64240, Linux's default SYN window.
	Window uint16
	// TTL is the IPv4 TTL or IPv6 hop limit; 0 means 64.
	TTL uint8
	// IPID is the IPv4 identification policy.
	IPID IPIDPolicy
}

// Default values used for zero fields of TemplateConfig.
const (
	DefaultWindow = 64240
	DefaultTTL    = 64
)

// Template is a prebuilt SYN for one source address and set of options. It
// is filled per probe with destination address, ports and sequence number;
// checksums are completed from precomputed partial sums instead of being
// recomputed. A Template is safe for concurrent use.
type Template struct {
	pkt     []byte // whole IP packet; destination, ID, ports and seq are zero
	ipLen   int    // IP header length: 20 or 40
	v6      bool
	ipid    IPIDPolicy
	ipSum   uint32 // folded sum of the IPv4 header without destination and ID
	tcpSum  uint32 // folded sum of the segment and pseudo-header without destination, ports, seq
	counter atomic.Uint32
}

// ErrTemplateConfig is wrapped by errors describing an invalid TemplateConfig.
var ErrTemplateConfig = errors.New("synack: invalid template config")

// NewTemplate builds a Template from cfg. It returns an error wrapping
// ErrTemplateConfig naming the bad field.
func NewTemplate(cfg TemplateConfig) (*Template, error) {
	src := cfg.Src.Unmap()
	if !src.IsValid() {
		return nil, fmt.Errorf("%w: Src is not a valid IP address", ErrTemplateConfig)
	}
	if src.IsUnspecified() {
		return nil, fmt.Errorf("%w: Src %v is unspecified", ErrTemplateConfig, src)
	}
	if cfg.IPID > IPIDRandom {
		return nil, fmt.Errorf("%w: unknown IPID policy %d", ErrTemplateConfig, cfg.IPID)
	}
	opts, err := cfg.Options.encode()
	if err != nil {
		return nil, err
	}
	window, ttl := cfg.Window, cfg.TTL
	if window == 0 {
		window = DefaultWindow
	}
	if ttl == 0 {
		ttl = DefaultTTL
	}
	t := &Template{v6: src.Is6(), ipid: cfg.IPID, ipLen: ipv4MinLen}
	if t.v6 {
		t.ipLen = ipv6HeaderLen
	}
	segLen := tcpMinLen + len(opts)
	t.pkt = make([]byte, t.ipLen+segLen)
	ip, seg := t.pkt[:t.ipLen], t.pkt[t.ipLen:]

	var srcBytes []byte
	if t.v6 {
		ip[0] = 6 << 4
		binary.BigEndian.PutUint16(ip[ipv6PayloadLen:], uint16(segLen))
		ip[ipv6NextHeader] = protoTCP
		ip[ipv6HopLimit] = ttl
		a := src.As16()
		copy(ip[ipv6Src:], a[:])
		srcBytes = ip[ipv6Src : ipv6Src+16]
	} else {
		ip[ipv4VersionIHL] = 4<<4 | ipv4MinLen/4
		binary.BigEndian.PutUint16(ip[ipv4TotalLen:], uint16(len(t.pkt)))
		binary.BigEndian.PutUint16(ip[ipv4FlagsFrag:], ipv4FlagDF)
		ip[ipv4TTL] = ttl
		ip[ipv4Protocol] = protoTCP
		a := src.As4()
		copy(ip[ipv4Src:], a[:])
		srcBytes = ip[ipv4Src : ipv4Src+4]
		t.ipSum = fold16(Sum(ip, 0))
		t.counter.Store(rand.Uint32())
	}
	seg[tcpDataOffset] = uint8(segLen/4) << 4
	seg[tcpFlags] = FlagSYN
	binary.BigEndian.PutUint16(seg[tcpWindow:], window)
	copy(seg[tcpMinLen:], opts)
	t.tcpSum = fold16(Sum(seg, Sum(srcBytes, uint32(protoTCP)+uint32(segLen))))
	return t, nil
}

// encode returns the options in Linux's layout, a multiple of 4 bytes.
func (o TCPOptions) encode() ([]byte, error) {
	if o.WindowScale < -1 || o.WindowScale > 14 {
		return nil, fmt.Errorf("%w: WindowScale %d is outside -1..14", ErrTemplateConfig, o.WindowScale)
	}
	if !o.Timestamps && o.TSval != 0 {
		return nil, fmt.Errorf("%w: TSval set without Timestamps", ErrTemplateConfig)
	}
	var b []byte
	if o.MSS != 0 {
		b = append(b, 2, 4, byte(o.MSS>>8), byte(o.MSS))
	}
	if o.Timestamps {
		if o.SACKPermitted {
			b = append(b, 4, 2, 8, 10)
		} else {
			b = append(b, 1, 1, 8, 10)
		}
		b = binary.BigEndian.AppendUint32(b, o.TSval)
		b = append(b, 0, 0, 0, 0)
	} else if o.SACKPermitted {
		b = append(b, 1, 1, 4, 2)
	}
	if o.WindowScale >= 0 {
		b = append(b, 1, 3, 3, byte(o.WindowScale))
	}
	return b, nil
}

// PacketLen returns the length of the whole IP packet FillPacket writes.
func (t *Template) PacketLen() int { return len(t.pkt) }

// SegmentLen returns the length of the TCP segment FillSegment writes.
func (t *Template) SegmentLen() int { return len(t.pkt) - t.ipLen }

// IPv6 reports whether the template builds IPv6 SYNs.
func (t *Template) IPv6() bool { return t.v6 }

// FillPacket writes the whole IP packet of a SYN to dst from srcPort to
// dstPort with sequence number seq into buf and returns its length. It
// returns 0 and writes nothing if buf is shorter than PacketLen or dst is not
// of the template's address family (an IPv4-mapped address counts as IPv4).
func (t *Template) FillPacket(buf []byte, dst netip.Addr, srcPort, dstPort uint16, seq uint32) int {
	n := len(t.pkt)
	if len(buf) < n {
		return 0
	}
	buf = buf[:n]
	var dstSum uint32
	if t.v6 {
		if !dst.Is6() || dst.Is4In6() {
			return 0
		}
		copy(buf, t.pkt)
		a := dst.As16()
		copy(buf[ipv6Dst:ipv6Dst+16], a[:])
		dstSum = sum16(&a)
	} else {
		dst = dst.Unmap()
		if !dst.Is4() {
			return 0
		}
		copy(buf, t.pkt)
		a := dst.As4()
		copy(buf[ipv4Dst:ipv4Dst+4], a[:])
		dstSum = sum4(&a)
		id := t.nextID()
		binary.BigEndian.PutUint16(buf[ipv4ID:], id)
		binary.BigEndian.PutUint16(buf[ipv4Checksum:], Fold(t.ipSum+dstSum+uint32(id)))
	}
	t.fillTCP(buf[t.ipLen:], dstSum, srcPort, dstPort, seq)
	return n
}

// FillSegment writes the TCP segment alone of the SYN FillPacket would
// build, checksummed over the pseudo-header, into buf and returns its length,
// for a raw socket where the kernel writes the IP header; that socket must
// send from the template's Src, or the checksum is wrong. It returns 0 and
// writes nothing under the same conditions as FillPacket.
func (t *Template) FillSegment(buf []byte, dst netip.Addr, srcPort, dstPort uint16, seq uint32) int {
	n := len(t.pkt) - t.ipLen
	if len(buf) < n {
		return 0
	}
	buf = buf[:n]
	var dstSum uint32
	if t.v6 {
		if !dst.Is6() || dst.Is4In6() {
			return 0
		}
		a := dst.As16()
		dstSum = sum16(&a)
	} else {
		dst = dst.Unmap()
		if !dst.Is4() {
			return 0
		}
		a := dst.As4()
		dstSum = sum4(&a)
	}
	copy(buf, t.pkt[t.ipLen:])
	t.fillTCP(buf, dstSum, srcPort, dstPort, seq)
	return n
}

// fillTCP writes ports and seq into the copied template segment seg and
// completes its checksum from the precomputed sum.
func (t *Template) fillTCP(seg []byte, dstSum uint32, srcPort, dstPort uint16, seq uint32) {
	binary.BigEndian.PutUint16(seg[tcpSrcPort:], srcPort)
	binary.BigEndian.PutUint16(seg[tcpDstPort:], dstPort)
	binary.BigEndian.PutUint32(seg[tcpSeq:], seq)
	s := t.tcpSum + dstSum + uint32(srcPort) + uint32(dstPort) + seq>>16 + seq&0xffff
	binary.BigEndian.PutUint16(seg[tcpChecksum:], Fold(s))
}

// nextID returns the IPv4 identification of the next SYN.
func (t *Template) nextID() uint16 {
	switch t.ipid {
	case IPIDCounter:
		return uint16(t.counter.Add(1))
	case IPIDRandom:
		return uint16(rand.Uint32())
	}
	return 0
}

// sum16 returns the unfolded sum of the eight 16-bit words of an IPv6 address.
func sum16(a *[16]byte) uint32 {
	return uint32(binary.BigEndian.Uint16(a[0:])) + uint32(binary.BigEndian.Uint16(a[2:])) +
		uint32(binary.BigEndian.Uint16(a[4:])) + uint32(binary.BigEndian.Uint16(a[6:])) +
		uint32(binary.BigEndian.Uint16(a[8:])) + uint32(binary.BigEndian.Uint16(a[10:])) +
		uint32(binary.BigEndian.Uint16(a[12:])) + uint32(binary.BigEndian.Uint16(a[14:]))
}

// sum4 returns the unfolded sum of the two 16-bit words of an IPv4 address.
func sum4(a *[4]byte) uint32 {
	return uint32(binary.BigEndian.Uint16(a[0:])) + uint32(binary.BigEndian.Uint16(a[2:]))
}
