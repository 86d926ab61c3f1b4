package pcapcheck

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"time"

	"github.com/mdlayher/socket"
	"golang.org/x/sys/unix"
)

// captureRcvBuf is the capture socket's receive buffer: room for tens of
// thousands of frames, so a burst of a load test is not dropped while the
// reader writes the file.
const captureRcvBuf = 128 << 20

// packetSource is an AF_PACKET socket bound to one interface.
type packetSource struct {
	conn     *socket.Conn
	loopback bool
	oob      []byte
}

// openSource opens an AF_PACKET socket capturing every frame of ifname,
// with kernel receive timestamps, in the calling thread's namespace.
func openSource(ifname string) (source, error) {
	ifi, err := net.InterfaceByName(ifname)
	if err != nil {
		return nil, err
	}
	// Protocol 0 receives nothing until bind, so no frame of another
	// interface slips in.
	conn, err := socket.Socket(unix.AF_PACKET, unix.SOCK_RAW, 0, "pcapcheck", nil)
	if err != nil {
		return nil, err
	}
	fail := func(err error) (source, error) {
		conn.Close()
		return nil, err
	}
	if err := conn.SetsockoptInt(unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, captureRcvBuf); err != nil {
		return fail(err)
	}
	if err := conn.SetsockoptInt(unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1); err != nil {
		return fail(err)
	}
	sa := &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifi.Index}
	if err := conn.Bind(sa); err != nil {
		return fail(err)
	}
	if _, err := conn.GetsockoptTpacketStats(unix.SOL_PACKET, unix.PACKET_STATISTICS); err != nil {
		return fail(err) // reset the counters to this moment
	}
	return &packetSource{
		conn:     conn,
		loopback: ifi.Flags&net.FlagLoopback != 0,
		oob:      make([]byte, unix.CmsgSpace(16)),
	}, nil
}

func (p *packetSource) read(buf []byte) (n, wireLen int, ts time.Time, err error) {
	for {
		wire, oobn, _, from, err := p.conn.Recvmsg(context.Background(), buf, p.oob, unix.MSG_TRUNC)
		if err != nil {
			return 0, 0, time.Time{}, err
		}
		if sll, ok := from.(*unix.SockaddrLinklayer); ok && p.loopback && sll.Pkttype == unix.PACKET_OUTGOING {
			continue // lo shows each frame twice: keep the incoming copy
		}
		return min(wire, len(buf)), wire, timestamp(p.oob[:oobn]), nil
	}
}

// timestamp returns the SCM_TIMESTAMPNS time in oob, or now if missing.
func timestamp(oob []byte) time.Time {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err == nil {
		for _, m := range msgs {
			if m.Header.Level != unix.SOL_SOCKET || m.Header.Type != unix.SCM_TIMESTAMPNS {
				continue
			}
			switch len(m.Data) { // struct timespec: two longs
			case 16:
				return time.Unix(int64(binary.NativeEndian.Uint64(m.Data)), int64(binary.NativeEndian.Uint64(m.Data[8:])))
			case 8:
				return time.Unix(int64(int32(binary.NativeEndian.Uint32(m.Data))), int64(int32(binary.NativeEndian.Uint32(m.Data[4:]))))
			}
		}
	}
	return time.Now()
}

func (p *packetSource) setReadDeadline(t time.Time) error { return p.conn.SetReadDeadline(t) }

func (p *packetSource) dropped() (uint64, error) {
	st, err := p.conn.GetsockoptTpacketStats(unix.SOL_PACKET, unix.PACKET_STATISTICS)
	if err != nil {
		return 0, fmt.Errorf("reading drop counts: %w", err)
	}
	return uint64(st.Drops), nil
}

func (p *packetSource) close() error { return p.conn.Close() }

func isTimeout(err error) bool { return errors.Is(err, os.ErrDeadlineExceeded) }

// htons converts a 16-bit protocol number to network byte order.
func htons(v uint16) uint16 { return v<<8 | v>>8 }
