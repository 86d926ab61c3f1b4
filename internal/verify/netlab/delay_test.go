package netlab

import (
	"encoding/binary"
	"testing"
)

// TestSYNACKFor checks the delay path's reply to a SYN: addresses and
// ports swapped, the SYN's sequence number + 1 acknowledged, SYN and ACK
// set, and both checksums valid (the ones' complement sum over the header,
// and over the pseudo-header and segment, is all ones). Anything but a
// bare SYN gets no reply.
func TestSYNACKFor(t *testing.T) {
	syn := []byte{
		0x45, 0, 0, 40, 0, 1, 0x40, 0, 64, 6, 0, 0, // IPv4, TCP
		198, 19, 254, 1, 198, 19, 11, 7, // from, to
		0xee, 0x48, 0, 80, 0x12, 0x34, 0x56, 0x78, 0, 0, 0, 0, // ports, seq, ack
		0x50, 0x02, 0xff, 0xff, 0, 0, 0, 0, // SYN
	}
	r, ok := synackFor(syn)
	if !ok {
		t.Fatal("no reply to a SYN")
	}
	if string(r[12:16]) != string(syn[16:20]) || string(r[16:20]) != string(syn[12:16]) {
		t.Errorf("addresses %v -> %v, want swapped", r[12:16], r[16:20])
	}
	tcp := r[20:]
	if binary.BigEndian.Uint16(tcp[0:2]) != 80 || binary.BigEndian.Uint16(tcp[2:4]) != 0xee48 {
		t.Errorf("ports %x, want swapped", tcp[0:4])
	}
	if ack := binary.BigEndian.Uint32(tcp[8:12]); ack != 0x12345679 || tcp[13] != 0x12 {
		t.Errorf("ack %#x flags %#x, want 0x12345679 and SYN|ACK", ack, tcp[13])
	}
	if s := onesSum(0, r[:20]); s != 0xffff {
		t.Errorf("IP header sums to %#x, want 0xffff", s)
	}
	pseudo := append(append([]byte{}, r[12:20]...), 0, protoTCP, 0, byte(len(tcp)))
	if s := onesSum(onesSum(0, pseudo), tcp); s != 0xffff {
		t.Errorf("TCP segment sums to %#x, want 0xffff", s)
	}
	rst := append([]byte{}, syn...)
	rst[33] = 0x04
	if _, ok := synackFor(rst); ok {
		t.Error("a RST got a reply")
	}
	ack := append([]byte{}, syn...)
	ack[33] = 0x12
	if _, ok := synackFor(ack); ok {
		t.Error("a SYN-ACK got a reply")
	}
}
