package pcapverify

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
)

// pcapngMagic opens every pcapng file: the block type of its Section
// Header Block.
var pcapngMagic = []byte{0x0a, 0x0d, 0x0d, 0x0a}

// AnalyzeFile reads the capture file at path and checks every TCP
// handshake in it; see Analyze.
func AnalyzeFile(path string) (*Report, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("pcapverify: %w", err)
	}
	defer f.Close()
	return Analyze(path, f)
}

// Analyze reads a capture from r and checks every TCP handshake in it;
// name is the file's name, for the Report and for errors.
//
// The capture is pcap (microsecond or nanosecond, either byte order, as
// tcpdump and --pcap write) or pcapng (as Wireshark and dumpcap write,
// every interface of it). Its link type is Ethernet, raw IP, Linux cooked
// capture v1 or v2 (tcpdump -i any), or BSD loopback. A file that is not
// such a capture, or that ends inside a packet, is an error: a truncated
// capture cannot show what was or was not sent.
func Analyze(name string, r io.Reader) (*Report, error) {
	br := bufio.NewReaderSize(r, 1<<20)
	magic, err := br.Peek(4)
	if err != nil {
		return nil, fmt.Errorf("pcapverify: %s: not a capture file: %w", name, errShort(err))
	}
	var src packetSource
	if bytes.Equal(magic, pcapngMagic) {
		src, err = newNgSource(br)
	} else {
		src, err = newPcapSource(br)
	}
	if err != nil {
		return nil, fmt.Errorf("pcapverify: %s: %w", name, err)
	}
	a := newAnalyzer()
	for {
		data, ts, lt, err := src.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("pcapverify: %s: packet %d: %w", name, a.packets+1, errShort(err))
		}
		a.packets++
		decode, err := decoderFor(lt)
		if err != nil {
			return nil, fmt.Errorf("pcapverify: %s: packet %d: %w", name, a.packets, err)
		}
		if s, ok := decode(data); ok {
			a.add(s, ts)
		}
	}
	rep := a.report()
	rep.Path = name
	return rep, nil
}

// errShort names an end of file inside a structure as a truncation.
func errShort(err error) error {
	if err == io.ErrUnexpectedEOF || err == io.EOF {
		return fmt.Errorf("file truncated (%w)", io.ErrUnexpectedEOF)
	}
	return err
}

// packetSource is a pcap or pcapng reader: one packet at a time, with its
// timestamp and its interface's link type.
type packetSource interface {
	next() (data []byte, ts time.Time, lt linkType, err error)
}

type pcapSource struct {
	r  *pcapgo.Reader
	lt linkType
}

// pcapHeaderLen is the length of a pcap file header; its link type is
// the low 16 bits of the 32-bit field at pcapLinkTypeOffset.
const (
	pcapHeaderLen      = 24
	pcapLinkTypeOffset = 20
)

func newPcapSource(r *bufio.Reader) (*pcapSource, error) {
	hdr, err := r.Peek(pcapHeaderLen)
	if err != nil {
		return nil, fmt.Errorf("not a pcap or pcapng file: %w", errShort(err))
	}
	pr, err := pcapgo.NewReader(r)
	if err != nil {
		return nil, err
	}
	order := binary.ByteOrder(binary.LittleEndian)
	if hdr[0] == 0xa1 { // magic a1b2c3d4 or a1b23c4d written big-endian
		order = binary.BigEndian
	}
	lt := linkType(order.Uint32(hdr[pcapLinkTypeOffset:]))
	if _, err := decoderFor(lt); err != nil {
		return nil, err
	}
	return &pcapSource{r: pr, lt: lt}, nil
}

func (p *pcapSource) next() ([]byte, time.Time, linkType, error) {
	data, ci, err := p.r.ZeroCopyReadPacketData()
	return data, ci.Timestamp, p.lt, err
}

type ngSource struct{ r *pcapgo.NgReader }

func newNgSource(r io.Reader) (*ngSource, error) {
	// Every interface's packets, whatever its link type: a capture on
	// several interfaces (dumpcap -i a -i b) is read whole.
	nr, err := pcapgo.NewNgReader(&ngBlocks{r: r}, pcapgo.NgReaderOptions{WantMixedLinkType: true})
	if err != nil {
		return nil, fmt.Errorf("pcapng: %w", errShort(err))
	}
	return &ngSource{r: nr}, nil
}

func (n *ngSource) next() ([]byte, time.Time, linkType, error) {
	data, ci, err := n.r.ZeroCopyReadPacketData()
	if err != nil {
		return nil, time.Time{}, 0, err
	}
	intf, err := n.r.Interface(ci.InterfaceIndex)
	if err != nil {
		return nil, time.Time{}, 0, err
	}
	return data, ci.Timestamp, linkType(intf.LinkType), nil
}

// linkType is a capture's link type as the file states it (pcap's and
// pcapng's fields are wider than gopacket's layers.LinkType, a byte).
type linkType uint16

// Link types the decoder reads beside those package layers names.
const (
	// linkTypeLinuxSLL2 is tcpdump -i any's since libpcap 1.10.
	linkTypeLinuxSLL2 linkType = 276
	// linkTypeLinuxSLL2Truncated is how gopacket's pcapng reader reports
	// it: cut to the byte its layers.LinkType holds. No link type of that
	// number (20) is assigned.
	linkTypeLinuxSLL2Truncated linkType = linkTypeLinuxSLL2 & 0xff
)

// decoderFor returns the decoder of frames of link type lt.
func decoderFor(lt linkType) (func([]byte) (Segment, bool), error) {
	switch layers.LinkType(lt) {
	case layers.LinkTypeEthernet:
		return DecodeEthernet, nil
	case layers.LinkTypeRaw, layers.LinkTypeIPv4, layers.LinkTypeIPv6:
		return DecodeIP, nil
	case layers.LinkTypeLinuxSLL:
		return decodeSLL, nil
	case layers.LinkTypeNull, layers.LinkTypeLoop:
		return decodeLoopback, nil
	}
	switch lt {
	case linkTypeLinuxSLL2, linkTypeLinuxSLL2Truncated:
		return decodeSLL2, nil
	}
	return nil, fmt.Errorf("link type %v not supported (want Ethernet, raw IP, Linux cooked or loopback)", lt)
}

// ngBlocks passes a pcapng stream through, following its block
// structure, and turns an end of file inside a block into
// io.ErrUnexpectedEOF: pcapgo's NgReader reports both ends as io.EOF.
type ngBlocks struct {
	r     io.Reader
	hdr   [ngBlockHeaderLen]byte
	seen  int // bytes of the current block read so far
	size  int // the current block's total length, 0 until its header is read
	order binary.ByteOrder
}

// A pcapng block starts with its type and total length; a Section Header
// Block's byte-order magic follows and sets the order of what comes after.
const (
	ngBlockHeaderLen = 12
	ngByteOrderMagic = 0x1a2b3c4d
)

func (b *ngBlocks) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	b.follow(p[:n])
	if err == io.EOF && b.seen > 0 {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

// follow accounts the bytes p of the stream.
func (b *ngBlocks) follow(p []byte) {
	for len(p) > 0 {
		if b.size == 0 {
			k := copy(b.hdr[b.seen:], p)
			b.seen += k
			p = p[k:]
			if b.seen < len(b.hdr) {
				return
			}
			if bytes.Equal(b.hdr[:4], pcapngMagic) {
				b.order = binary.ByteOrder(binary.LittleEndian)
				if binary.BigEndian.Uint32(b.hdr[8:]) == ngByteOrderMagic {
					b.order = binary.BigEndian
				}
			}
			if b.order == nil { // no section header first: NgReader rejects the file
				b.order = binary.LittleEndian
			}
			b.size = max(int(b.order.Uint32(b.hdr[4:])), len(b.hdr))
		}
		k := min(len(p), b.size-b.seen)
		b.seen += k
		p = p[k:]
		if b.seen == b.size {
			b.seen, b.size = 0, 0
		}
	}
}
