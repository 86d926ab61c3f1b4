package demo

import (
	"errors"
	"net"
	"os"
	"sync"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
	"github.com/mdlayher/packet"
	"golang.org/x/sys/unix"
)

// capture records every frame on one interface (AF_PACKET) in memory.
type capture struct {
	conn *packet.Conn
	wg   sync.WaitGroup

	mu     sync.Mutex
	frames []capturedFrame
	err    error
}

type capturedFrame struct {
	ts   time.Time
	data []byte
}

// startCapture opens the capture socket in the calling thread's network
// namespace and starts reading.
func startCapture(ifname string) (*capture, error) {
	ifi, err := net.InterfaceByName(ifname)
	if err != nil {
		return nil, err
	}
	conn, err := packet.Listen(ifi, packet.Raw, unix.ETH_P_ALL, nil)
	if err != nil {
		return nil, err
	}
	c := &capture{conn: conn}
	c.wg.Add(1)
	go c.read()
	return c, nil
}

func (c *capture) read() {
	defer c.wg.Done()
	buf := make([]byte, 65536)
	for {
		n, _, err := c.conn.ReadFrom(buf)
		if err != nil {
			if !errors.Is(err, os.ErrDeadlineExceeded) {
				c.mu.Lock()
				c.err = err
				c.mu.Unlock()
			}
			return
		}
		c.mu.Lock()
		c.frames = append(c.frames, capturedFrame{time.Now(), append([]byte(nil), buf[:n]...)})
		c.mu.Unlock()
	}
}

// abort stops the capture and drops what it recorded.
func (c *capture) abort() {
	c.conn.SetReadDeadline(time.Now())
	c.wg.Wait()
	c.conn.Close()
}

// stop ends the capture and writes it to path as an Ethernet pcap.
func (c *capture) stop(path string) (string, error) {
	c.abort()
	if c.err != nil {
		return "", c.err
	}
	f, err := os.Create(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	w := pcapgo.NewWriterNanos(f)
	if err := w.WriteFileHeader(65536, layers.LinkTypeEthernet); err != nil {
		return "", err
	}
	for _, fr := range c.frames {
		ci := gopacket.CaptureInfo{Timestamp: fr.ts, CaptureLength: len(fr.data), Length: len(fr.data)}
		if err := w.WritePacket(ci, fr.data); err != nil {
			return "", err
		}
	}
	return path, f.Close()
}
