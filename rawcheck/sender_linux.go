package rawcheck

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"slices"
	"syscall"
	"time"
	"unsafe"

	"github.com/rawprobe/rawprobe/synack"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
	"golang.org/x/sys/unix"
)

// maxPacket is the largest packet the engine sends: an IPv6 header, a TCP
// header and 40 bytes of options.
const maxPacket = 40 + 60

// maxFrame is the largest frame the engine sends: maxPacket behind an
// Ethernet header.
const maxFrame = ethHeaderLen + maxPacket

// Message classes of a batch, one per socket.
const (
	classIP4    = iota // raw IPv4 socket
	classIP6           // raw IPv6 socket
	classPacket        // AF_PACKET socket, whole Ethernet frames
	classes
)

// sendBufferSize is the send buffer asked for on every sending socket, so
// that whole batches fit in it.
const sendBufferSize = 4 << 20

// ipSocket is a send-only raw IP socket that includes the IP header in
// what it sends (IPPROTO_RAW implies IP_HDRINCL, and IPV6_HDRINCL for
// IPv6), driven through golang.org/x/net/ipv4 or ipv6: WriteBatch is one
// sendmmsg for a whole batch. Its socket is a sendFD, outside Go's network
// poller.
type ipSocket struct {
	conn       net.PacketConn
	writeBatch func(ms []ipv4.Message, flags int) (int, error) // ipv4.Message and ipv6.Message are one type
}

// openIPSocket opens a raw socket of family AF_INET or AF_INET6.
func openIPSocket(family int) (*ipSocket, error) {
	netName, laddr := "ip4:raw", &net.IPAddr{IP: net.IPv4zero}
	if family == unix.AF_INET6 {
		netName, laddr = "ip6:raw", &net.IPAddr{IP: net.IPv6unspecified}
	}
	fd, err := unix.Socket(family, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_RAW)
	if err != nil {
		opErr := &net.OpError{Op: "socket", Net: netName, Err: os.NewSyscallError("socket", err)}
		if err == unix.EPERM || err == unix.EACCES {
			return nil, fmt.Errorf("rawcheck: sending raw packets needs CAP_NET_RAW: %w", opErr)
		}
		return nil, opErr
	}
	sfd, err := newSendFD(fd)
	if err != nil {
		return nil, &net.OpError{Op: "socket", Net: netName, Err: err}
	}
	return newIPSocket(&ipSendConn{sendFD: sfd, addr: laddr}, family), nil
}

// newIPSocket returns the ipSocket sending on c, a raw socket of family.
func newIPSocket(c net.PacketConn, family int) *ipSocket {
	s := &ipSocket{conn: c}
	if family == unix.AF_INET6 {
		s.writeBatch = ipv6.NewPacketConn(c).WriteBatch
	} else {
		s.writeBatch = ipv4.NewPacketConn(c).WriteBatch
	}
	return s
}

// close closes the socket; sends blocked on it return net.ErrClosed.
func (s *ipSocket) close() error { return s.conn.Close() }

// sendBatch is a set of packets sent with one sendmmsg per socket. All its
// buffers are allocated once, so sending allocates nothing per packet.
type sendBatch struct {
	bufs  [][maxFrame]byte
	offs  []int // where the IP packet starts in bufs[i]: ethHeaderLen or 0
	lens  []int // of the IP packet
	iovs  [][]byte
	addrs []net.IPAddr
	ips   [][16]byte // backing arrays of addrs[i].IP
	ipMsg [2][]ipv4.Message
	// Ethernet frames: sent on the AF_PACKET socket (see packetSocket).
	sall []unix.RawSockaddrLinklayer
	iov  []unix.Iovec
	mmsg []unix.Mmsghdr
	n    int
	// failed lists the packets (indexes) the kernel refused, and errs why.
	failed []int
	errs   []syscall.Errno
	order  [classes][]int // packet index of each message of a class
	// The state of one sendmmsg on the AF_PACKET socket, and the function
	// its RawConn.Write calls, bound once so that a send allocates nothing.
	pktSent  int
	pktErrno syscall.Errno
	pktWrite func(fd uintptr) bool
}

// newSendBatch returns a batch of up to size packets.
func newSendBatch(size int) *sendBatch {
	b := &sendBatch{
		bufs:  make([][maxFrame]byte, size),
		offs:  make([]int, size),
		lens:  make([]int, size),
		iovs:  make([][]byte, size),
		addrs: make([]net.IPAddr, size),
		ips:   make([][16]byte, size),
		sall:  make([]unix.RawSockaddrLinklayer, size),
		iov:   make([]unix.Iovec, size),
		mmsg:  make([]unix.Mmsghdr, 0, size),
	}
	for f := range b.ipMsg {
		b.ipMsg[f] = make([]ipv4.Message, 0, size)
	}
	for f := range b.order {
		b.order[f] = make([]int, 0, size)
	}
	b.pktWrite = b.writeFrames
	return b
}

// full reports whether the batch has no room left.
func (b *sendBatch) full() bool { return b.n == len(b.bufs) }

// len returns the number of packets in the batch.
func (b *sendBatch) len() int { return b.n }

// next returns the buffer for the next IP packet; commit it with add.
func (b *sendBatch) next() []byte { return b.bufs[b.n][:maxPacket] }

// add commits the next packet: n bytes to dst, sent on a raw IP socket.
func (b *sendBatch) add(n int, dst netip.Addr) {
	i := b.n
	b.offs[i] = 0
	b.lens[i] = n
	f := classIP4
	if dst.Is4() {
		a := dst.As4()
		copy(b.ips[i][:4], a[:])
		b.addrs[i].IP = b.ips[i][:4]
	} else {
		b.ips[i] = dst.As16()
		b.addrs[i].IP = b.ips[i][:]
		f = classIP6
	}
	b.iovs[i] = b.bufs[i][:n]
	b.ipMsg[f] = append(b.ipMsg[f], ipv4.Message{Buffers: b.iovs[i : i+1], Addr: &b.addrs[i]})
	b.order[f] = append(b.order[f], i)
	b.n++
}

// nextFrame returns the buffer for the IP packet of the next frame, behind
// room for its Ethernet header; commit it with addFrame.
func (b *sendBatch) nextFrame() []byte { return b.bufs[b.n][ethHeaderLen:] }

// addFrame commits the next packet, n bytes of IP, as an Ethernet frame on
// path p, sent on the AF_PACKET socket.
func (b *sendBatch) addFrame(n int, p *ethPath) {
	i := b.n
	copy(b.bufs[i][:ethHeaderLen], p.header[:])
	b.offs[i] = ethHeaderLen
	b.lens[i] = n
	b.sall[i] = p.sa
	var h unix.Msghdr
	h.Name = (*byte)(unsafe.Pointer(&b.sall[i]))
	h.Namelen = unix.SizeofSockaddrLinklayer
	b.iov[i] = unix.Iovec{Base: &b.bufs[i][0]}
	b.iov[i].SetLen(ethHeaderLen + n)
	h.Iov = &b.iov[i]
	h.Iovlen = 1
	b.mmsg = append(b.mmsg, unix.Mmsghdr{Hdr: h})
	b.order[classPacket] = append(b.order[classPacket], i)
	b.n++
}

// tapSent hands tap (if not nil) the packets of the batch the kernel took,
// after send: a refused one never left.
func (b *sendBatch) tapSent(tap PacketTap) {
	if tap == nil {
		return
	}
	ts := time.Now()
	for i := range b.len() {
		if len(b.failed) == 0 || !slices.Contains(b.failed, i) {
			tap.Packet(ts, b.packet(i), synack.LinkIP, true)
		}
	}
}

// packet returns packet i of the batch.
func (b *sendBatch) packet(i int) []byte { return b.bufs[i][b.offs[i] : b.offs[i]+b.lens[i]] }

// reset empties the batch.
func (b *sendBatch) reset() {
	b.n = 0
	b.failed = b.failed[:0]
	b.errs = b.errs[:0]
	for f := range b.ipMsg {
		b.ipMsg[f] = b.ipMsg[f][:0]
	}
	b.mmsg = b.mmsg[:0]
	for f := range b.order {
		b.order[f] = b.order[f][:0]
	}
}

// send sends the batch, IPv4 packets on s4, IPv6 ones on s6 and Ethernet
// frames on sp. Packets the kernel refuses (no route, firewall, ...) are
// listed in b.failed; the error, a *net.OpError naming the socket, is only
// for a socket that cannot send at all (closed).
func (b *sendBatch) send(s4, s6 *ipSocket, sp *packetSocket) error {
	for f, s := range [2]*ipSocket{s4, s6} {
		if err := b.sendIP(f, s); err != nil {
			return writeError([2]string{"ip4:raw", "ip6:raw"}[f], err)
		}
	}
	if err := b.sendFrames(sp); err != nil {
		return writeError("packet", err)
	}
	return nil
}

// writeError returns err, a failed write on a socket of network netName,
// as a *net.OpError (x/net's already is one).
func writeError(netName string, err error) error {
	if _, ok := err.(*net.OpError); ok {
		return err
	}
	return &net.OpError{Op: "write", Net: netName, Err: err}
}

// sendIP sends the IP packets of class f (classIP4, classIP6) on s.
func (b *sendBatch) sendIP(f int, s *ipSocket) error {
	msgs, order := b.ipMsg[f], b.order[f]
	for sent := 0; sent < len(msgs); {
		n, err := s.writeBatch(msgs[sent:], 0)
		sent += max(n, 0) // -1 when the first message was refused
		if err == nil {
			if n <= 0 {
				return io.ErrShortWrite
			}
			continue
		}
		var errno syscall.Errno
		if !errors.As(err, &errno) {
			return err
		}
		if errno != unix.EINTR {
			// The first remaining message was refused: skip it.
			b.failed = append(b.failed, order[sent])
			b.errs = append(b.errs, errno)
			sent++
		}
	}
	return nil
}

// sendFrames sends the Ethernet frames on sp.
func (b *sendBatch) sendFrames(sp *packetSocket) error {
	if len(b.mmsg) == 0 {
		return nil
	}
	order := b.order[classPacket]
	for b.pktSent = 0; b.pktSent < len(b.mmsg); {
		b.pktErrno = 0
		if err := sp.rc.Write(b.pktWrite); err != nil {
			return err
		}
		if b.pktErrno != 0 {
			b.failed = append(b.failed, order[b.pktSent])
			b.errs = append(b.errs, b.pktErrno)
			b.pktSent++
		}
	}
	return nil
}

// writeFrames is the RawConn.Write callback of send: one sendmmsg of the
// frames not sent yet. It returns false to wait for room in the send
// buffer.
func (b *sendBatch) writeFrames(fd uintptr) bool {
	msgs := b.mmsg[b.pktSent:]
	n, _, e := unix.Syscall6(unix.SYS_SENDMMSG, fd, uintptr(unsafe.Pointer(&msgs[0])), uintptr(len(msgs)), 0, 0, 0)
	switch e {
	case 0:
		b.pktSent += int(n)
	case unix.EAGAIN:
		return false
	case unix.EINTR:
	default:
		b.pktErrno = e
	}
	return true
}
