package rawcheck

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"sync"
	"syscall"
	"time"
	"unsafe"

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

// rawSocket is a raw IP socket that includes the IP header in what it
// sends (IPPROTO_RAW implies IP_HDRINCL, and IPV6_HDRINCL for IPv6). It
// receives nothing.
//
// It is deliberately kept out of Go's network poller: the kernel signals
// write space to a socket's waiters each time one of its packets is freed,
// and with the socket in the poller's epoll set that woke the poller's
// thread once per packet sent (about 0.6 context switches per probe). The
// socket is blocking instead, with a send timeout so that a blocked send
// notices Close.
type rawSocket struct {
	mu     sync.RWMutex // held for reading during each send, for writing by close
	fd     int
	closed bool
}

// sendTimeout bounds how long a send blocks on a full socket buffer before
// it checks whether the socket was closed.
const sendTimeout = 100 * time.Millisecond

// openRawSocket opens a raw socket of family AF_INET or AF_INET6.
func openRawSocket(family int) (*rawSocket, error) {
	netName := "ip4:raw"
	if family == unix.AF_INET6 {
		netName = "ip6:raw"
	}
	fd, err := unix.Socket(family, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_RAW)
	if err != nil {
		opErr := &net.OpError{Op: "socket", Net: netName, Err: os.NewSyscallError("socket", err)}
		if err == unix.EPERM || err == unix.EACCES {
			return nil, fmt.Errorf("rawcheck: sending raw packets needs CAP_NET_RAW: %w", opErr)
		}
		return nil, opErr
	}
	// A large send buffer absorbs whole batches.
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, 4<<20)
	tv := unix.NsecToTimeval(int64(sendTimeout))
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_SNDTIMEO, &tv); err != nil {
		unix.Close(fd)
		return nil, &net.OpError{Op: "socket", Net: netName, Err: os.NewSyscallError("setsockopt", err)}
	}
	return &rawSocket{fd: fd}, nil
}

// close closes the socket once the sends in progress have returned.
func (s *rawSocket) close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	return os.NewSyscallError("close", unix.Close(s.fd))
}

// sendmmsg sends msgs, returning how many were sent. A message the kernel
// refuses ends the call with its errno (the messages before it were sent).
// A send blocked on a full buffer gives up the lock every sendTimeout, so
// close is never held up longer.
func (s *rawSocket) sendmmsg(msgs []unix.Mmsghdr) (int, syscall.Errno, error) {
	for {
		s.mu.RLock()
		if s.closed {
			s.mu.RUnlock()
			return 0, 0, net.ErrClosed
		}
		n, _, e := unix.Syscall6(unix.SYS_SENDMMSG, uintptr(s.fd),
			uintptr(unsafe.Pointer(&msgs[0])), uintptr(len(msgs)), 0, 0, 0)
		s.mu.RUnlock()
		switch e {
		case 0:
			return int(n), 0, nil
		case unix.EINTR, unix.EAGAIN: // EAGAIN: send timeout on a full buffer
		default:
			return 0, e, nil
		}
	}
}

// sendBatch is a set of packets sent with one sendmmsg per socket. All its
// buffers are allocated once, so sending allocates nothing per packet.
type sendBatch struct {
	bufs [][maxFrame]byte
	offs []int // where the IP packet starts in bufs[i]: ethHeaderLen or 0
	lens []int // of the IP packet
	sa4  []unix.RawSockaddrInet4
	sa6  []unix.RawSockaddrInet6
	sall []unix.RawSockaddrLinklayer
	iov  []unix.Iovec
	msgs [classes][]unix.Mmsghdr
	n    int
	// failed lists the packets (indexes) the kernel refused, and errs why.
	failed []int
	errs   []syscall.Errno
	order  [classes][]int // packet index of each msgs entry
}

// newSendBatch returns a batch of up to size packets.
func newSendBatch(size int) *sendBatch {
	b := &sendBatch{
		bufs: make([][maxFrame]byte, size),
		offs: make([]int, size),
		lens: make([]int, size),
		sa4:  make([]unix.RawSockaddrInet4, size),
		sa6:  make([]unix.RawSockaddrInet6, size),
		sall: make([]unix.RawSockaddrLinklayer, size),
		iov:  make([]unix.Iovec, size),
	}
	for f := range b.msgs {
		b.msgs[f] = make([]unix.Mmsghdr, 0, size)
		b.order[f] = make([]int, 0, size)
	}
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
	var h unix.Msghdr
	f := classIP4
	if dst.Is4() {
		b.sa4[i] = unix.RawSockaddrInet4{Family: unix.AF_INET, Addr: dst.As4()}
		h.Name = (*byte)(unsafe.Pointer(&b.sa4[i]))
		h.Namelen = unix.SizeofSockaddrInet4
	} else {
		b.sa6[i] = unix.RawSockaddrInet6{Family: unix.AF_INET6, Addr: dst.As16()}
		h.Name = (*byte)(unsafe.Pointer(&b.sa6[i]))
		h.Namelen = unix.SizeofSockaddrInet6
		f = classIP6
	}
	b.commit(i, f, h, 0, n)
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
	b.commit(i, classPacket, h, 0, ethHeaderLen+n)
}

// commit adds message h of class f for bytes [off, off+n) of buffer i.
func (b *sendBatch) commit(i, f int, h unix.Msghdr, off, n int) {
	b.iov[i] = unix.Iovec{Base: &b.bufs[i][off]}
	b.iov[i].SetLen(n)
	h.Iov = &b.iov[i]
	h.Iovlen = 1
	b.msgs[f] = append(b.msgs[f], unix.Mmsghdr{Hdr: h})
	b.order[f] = append(b.order[f], i)
	b.n++
}

// packet returns packet i of the batch.
func (b *sendBatch) packet(i int) []byte { return b.bufs[i][b.offs[i] : b.offs[i]+b.lens[i]] }

// reset empties the batch.
func (b *sendBatch) reset() {
	b.n = 0
	b.failed = b.failed[:0]
	b.errs = b.errs[:0]
	for f := range b.msgs {
		b.msgs[f] = b.msgs[f][:0]
		b.order[f] = b.order[f][:0]
	}
}

// send sends the batch, IPv4 packets on s4, IPv6 ones on s6 and Ethernet
// frames on sp. Packets the kernel refuses (no route, firewall, ...) are
// listed in b.failed; the error is only for a socket that cannot send at
// all (closed).
func (b *sendBatch) send(s4, s6, sp *rawSocket) error {
	for f, s := range [classes]*rawSocket{s4, s6, sp} {
		msgs, order := b.msgs[f], b.order[f]
		for sent := 0; sent < len(msgs); {
			n, errno, err := s.sendmmsg(msgs[sent:])
			if err != nil {
				return err
			}
			sent += n
			if errno != 0 {
				// The first remaining message was refused: skip it.
				b.failed = append(b.failed, order[sent])
				b.errs = append(b.errs, errno)
				sent++
			}
		}
	}
	return nil
}
