package record

import (
	"bufio"
	"encoding/binary"
	"errors"
	"net"
	"os"
	"sync/atomic"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
	"github.com/mdlayher/packet"
	"golang.org/x/sys/unix"
)

// snaplen is the most a capture keeps of a frame: every frame of a
// scenario (headers and an ICMP quote) fits.
const snaplen = 256

// capture writes the TCP and ICMP-unreachable frames of one interface to a
// pcap file (others, such as ARP and neighbour discovery, are left out to
// keep the golden files small and stable).
type capture struct {
	conn     *packet.Conn
	file     *os.File
	stopping atomic.Bool
	done     chan struct{}
	err      error
}

// startCapture opens an AF_PACKET socket on ifname through enter (which
// runs it in the interface's namespace) and starts writing path.
func startCapture(ifname string, enter func(func() error) error, path string) (*capture, error) {
	var conn *packet.Conn
	err := enter(func() error {
		ifi, err := net.InterfaceByName(ifname)
		if err != nil {
			return err
		}
		conn, err = packet.Listen(ifi, packet.Raw, unix.ETH_P_ALL, nil)
		return err
	})
	if err != nil {
		return nil, err
	}
	f, err := os.Create(path)
	if err != nil {
		conn.Close()
		return nil, err
	}
	c := &capture{conn: conn, file: f, done: make(chan struct{})}
	go c.run()
	return c, nil
}

func (c *capture) run() {
	defer close(c.done)
	bw := bufio.NewWriter(c.file)
	w := pcapgo.NewWriterNanos(bw)
	err := w.WriteFileHeader(snaplen, layers.LinkTypeEthernet)
	buf := make([]byte, 2048)
	for err == nil {
		n, _, rerr := c.conn.ReadFrom(buf)
		if rerr != nil {
			if !(c.stopping.Load() && errors.Is(rerr, os.ErrDeadlineExceeded)) {
				err = rerr
			}
			break
		}
		if !wanted(buf[:n]) {
			continue
		}
		kept := min(n, snaplen)
		err = w.WritePacket(gopacket.CaptureInfo{Timestamp: time.Now(), CaptureLength: kept, Length: n}, buf[:kept])
	}
	if ferr := bw.Flush(); err == nil {
		err = ferr
	}
	if cerr := c.file.Close(); err == nil {
		err = cerr
	}
	c.err = err
}

// stop waits drain for late packets, ends the capture and closes the file.
func (c *capture) stop(drain time.Duration) error {
	time.Sleep(drain)
	c.stopping.Store(true)
	c.conn.SetReadDeadline(time.Now())
	<-c.done
	if err := c.conn.Close(); c.err == nil {
		c.err = err
	}
	return c.err
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
