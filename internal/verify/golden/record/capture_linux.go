package record

import (
	"encoding/binary"
	"time"

	"golang.org/x/sys/unix"

	"github.com/rawprobe/rawprobe/internal/verify/netlab"
	"github.com/rawprobe/rawprobe/internal/verify/pcapcheck"
)

// snaplen is the most a capture keeps of a frame: every frame of a
// scenario (headers and an ICMP quote) fits.
const snaplen = 256

// Capture is a running capture of the prober's veth started by
// StartCapture.
type Capture struct{ c *pcapcheck.Capture }

// StartCapture captures the prober's veth of n into the pcap file path
// until Stop. It keeps the TCP and ICMP-unreachable frames only (others,
// such as ARP and neighbour discovery, are left out to keep the golden
// files small and stable).
func StartCapture(n *netlab.Net, path string) (*Capture, error) {
	c, err := pcapcheck.Open(n.ProberLink, n.InProber, path,
		pcapcheck.WithSnaplen(snaplen), pcapcheck.WithFilter(wanted))
	if err != nil {
		return nil, err
	}
	return &Capture{c}, nil
}

// Stop waits 300 ms for late packets, then ends the capture (once the
// veth has been silent for 100 ms) and closes the file.
func (c *Capture) Stop() error {
	time.Sleep(drain)
	_, err := c.c.Stop()
	return err
}

// wanted reports whether an Ethernet frame is IPv4/IPv6 TCP, ICMP
// destination unreachable or ICMPv6 destination unreachable.
func wanted(f []byte) bool {
	if len(f) < 14+40 {
		return false
	}
	switch binary.BigEndian.Uint16(f[12:]) {
	case 0x0800:
		ip := f[14:]
		hl := int(ip[0]&0x0f) * 4
		switch ip[9] {
		case unix.IPPROTO_TCP:
			return true
		case unix.IPPROTO_ICMP:
			return len(ip) > hl && ip[hl] == 3
		}
	case 0x86dd:
		ip := f[14:]
		switch ip[6] {
		case unix.IPPROTO_TCP:
			return true
		case unix.IPPROTO_ICMPV6:
			return len(ip) > 40 && ip[40] == 1
		}
	}
	return false
}
