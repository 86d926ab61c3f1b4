package rawcheck

import (
	"errors"
	"net"
	"os"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// sendFD is a send-only socket kept out of Go's network poller, with the
// syscall.RawConn interface the senders drive it through.
//
// A socket in the poller's epoll set has the kernel signal write space to
// it each time one of its packets is freed, which wakes the poller's
// thread whenever that thread is idle in epoll_wait: during a scan, many
// times per batch, each wake a context switch and CPU spent per SYN
// (BenchmarkSendPath and benchcmp -send-only show it). The socket is
// blocking instead, with a send timeout so that a blocked send notices
// close.
type sendFD struct {
	mu     sync.RWMutex // held for reading during each call, for writing by close
	fd     int
	closed bool
}

// errSendOnly is the error of every read from a sendFD.
var errSendOnly = errors.New("rawcheck: send-only socket")

// sendTimeout bounds how long a send blocks on a full socket buffer before
// it checks whether the socket was closed.
const sendTimeout = 100 * time.Millisecond

// newSendFD makes fd, a socket the caller hands over, a blocking sendFD
// with a large send buffer.
func newSendFD(fd int) (*sendFD, error) {
	if err := unix.SetNonblock(fd, false); err != nil {
		unix.Close(fd)
		return nil, os.NewSyscallError("fcntl", err)
	}
	// A large send buffer absorbs whole batches.
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, sendBufferSize)
	tv := unix.NsecToTimeval(int64(sendTimeout))
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_SNDTIMEO, &tv); err != nil {
		unix.Close(fd)
		return nil, os.NewSyscallError("setsockopt", err)
	}
	return &sendFD{fd: fd}, nil
}

// Control calls fn with the socket's descriptor.
func (s *sendFD) Control(fn func(fd uintptr)) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return net.ErrClosed
	}
	fn(uintptr(s.fd))
	return nil
}

// Read fails: the socket only sends.
func (s *sendFD) Read(func(fd uintptr) bool) error { return errSendOnly }

// Write calls fn until it returns true. fn's send blocks for at most
// sendTimeout (EAGAIN): fn then returns false, and Write gives up the lock
// in between, so close is never held up longer.
func (s *sendFD) Write(fn func(fd uintptr) bool) error {
	for {
		s.mu.RLock()
		if s.closed {
			s.mu.RUnlock()
			return net.ErrClosed
		}
		done := fn(uintptr(s.fd))
		s.mu.RUnlock()
		if done {
			return nil
		}
	}
}

// Close closes the socket once the calls in progress have returned.
func (s *sendFD) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	return os.NewSyscallError("close", unix.Close(s.fd))
}

var _ syscall.RawConn = (*sendFD)(nil)

// ipSendConn is a raw IP sendFD as the net.PacketConn that
// golang.org/x/net/ipv4 and ipv6 take (they find its socket through
// SyscallConn and ReadMsgIP's presence). Only its SyscallConn is used:
// reads fail, and deadlines are not supported.
type ipSendConn struct {
	*sendFD
	addr *net.IPAddr
}

func (c *ipSendConn) SyscallConn() (syscall.RawConn, error) { return c.sendFD, nil }
func (c *ipSendConn) ReadMsgIP([]byte, []byte) (int, int, int, *net.IPAddr, error) {
	return 0, 0, 0, nil, errSendOnly
}
func (c *ipSendConn) Read([]byte) (int, error)               { return 0, errSendOnly }
func (c *ipSendConn) ReadFrom([]byte) (int, net.Addr, error) { return 0, nil, errSendOnly }
func (c *ipSendConn) Write([]byte) (int, error)              { return 0, errSendOnly }
func (c *ipSendConn) WriteTo([]byte, net.Addr) (int, error)  { return 0, errSendOnly }
func (c *ipSendConn) LocalAddr() net.Addr                    { return c.addr }
func (c *ipSendConn) RemoteAddr() net.Addr                   { return nil }
func (c *ipSendConn) SetDeadline(time.Time) error            { return errSendOnly }
func (c *ipSendConn) SetReadDeadline(time.Time) error        { return errSendOnly }
func (c *ipSendConn) SetWriteDeadline(time.Time) error       { return errSendOnly }
