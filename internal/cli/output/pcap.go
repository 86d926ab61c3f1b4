package output

import (
	"bufio"
	"encoding/binary"
	"io"
	"sync"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"

	"github.com/rawprobe/rawprobe/synack"
)

// PcapTap writes every packet handed to it into a pcap file of link type
// RAW (101: frames start at the IP header), which Wireshark and tshark read.
// Ethernet frames have their header (and one 802.1Q tag) removed so packets
// sent on a raw IP socket and received on AF_PACKET fit in one file. It
// implements rawcheck.PacketTap and is safe for concurrent use.
type PcapTap struct {
	mu      sync.Mutex
	buf     *bufio.Writer
	w       *pcapgo.Writer
	err     error
	packets uint64
}

// pcapSnapLen is the largest frame kept whole; probes and replies are far
// smaller.
const pcapSnapLen = 65535

// NewPcapTap writes the pcap file header to w and returns the tap.
func NewPcapTap(w io.Writer) (*PcapTap, error) {
	t := &PcapTap{buf: bufio.NewWriter(w)}
	t.w = pcapgo.NewWriterNanos(t.buf)
	if err := t.w.WriteFileHeader(pcapSnapLen, layers.LinkTypeRaw); err != nil {
		return nil, err
	}
	return t, nil
}

// NewPcapTapAppend returns a tap that appends packets to w, which already
// holds the start of a capture NewPcapTap wrote: no file header is
// written.
func NewPcapTapAppend(w io.Writer) *PcapTap {
	t := &PcapTap{buf: bufio.NewWriter(w)}
	t.w = pcapgo.NewWriterNanos(t.buf)
	return t
}

// IsPcapTapFile reports whether head, the first bytes of a file, is the
// file header NewPcapTap writes (nanosecond pcap, link type RAW), so that
// NewPcapTapAppend may continue that file.
func IsPcapTapFile(head []byte) bool {
	return len(head) >= 24 && binary.LittleEndian.Uint32(head) == 0xa1b23c4d &&
		binary.LittleEndian.Uint32(head[20:]) == uint32(layers.LinkTypeRaw)
}

// Packet records one frame; frames that are not IPv4 or IPv6 are skipped.
func (t *PcapTap) Packet(ts time.Time, frame []byte, link synack.LinkType, sent bool) {
	ip := ipPayload(frame, link)
	if ip == nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.err != nil {
		return
	}
	n := min(len(ip), pcapSnapLen)
	t.err = t.w.WritePacket(gopacket.CaptureInfo{Timestamp: ts, CaptureLength: n, Length: len(ip)}, ip[:n])
	if t.err == nil {
		t.packets++
	}
}

// ipPayload returns the IP packet inside frame, or nil.
func ipPayload(frame []byte, link synack.LinkType) []byte {
	switch link {
	case synack.LinkIP:
		if len(frame) > 0 && (frame[0]>>4 == 4 || frame[0]>>4 == 6) {
			return frame
		}
	case synack.LinkEthernet:
		off := 12
		if len(frame) >= off+2 && binary.BigEndian.Uint16(frame[off:]) == 0x8100 {
			off += 4
		}
		if len(frame) >= off+2 {
			switch binary.BigEndian.Uint16(frame[off:]) {
			case 0x0800, 0x86dd:
				return frame[off+2:]
			}
		}
	}
	return nil
}

// Packets returns the number of packets written so far.
func (t *PcapTap) Packets() uint64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.packets
}

// Flush writes buffered packets out and returns the first error met.
func (t *PcapTap) Flush() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.err != nil {
		return t.err
	}
	t.err = t.buf.Flush()
	return t.err
}
