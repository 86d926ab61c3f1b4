package rawcheck

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/mdlayher/packet"
	"golang.org/x/sys/unix"

	"github.com/rawprobe/rawprobe/internal/verify/testnet"
	"github.com/rawprobe/rawprobe/synack"
)

// sendPathPrefix is where the send-path benchmark's SYNs go: routed from
// the prober to the target, which owns none of it and drops them. It stays
// clear of the test network's link subnet (198.19.254.0/24).
var sendPathPrefix = netip.MustParsePrefix("198.19.128.0/18")

// sendPathMAC is the destination of the benchmark's Ethernet frames, from
// the documentation range of RFC 7042: the target's link drops them.
var sendPathMAC = [6]byte{0x00, 0x00, 0x5e, 0x00, 0x53, 0x01}

// sendPathNet is the test network of the send-path benchmark and test, with
// the sockets of both send paths opened in the prober's namespace.
type sendPathNet struct {
	n    *testnet.Net
	tmpl *synack.Template
	eth  *ethPath
	ip4  *ipSocket
	pkt  *packetSocket
	// The same in Go's network poller: x/net/ipv4 over net.FilePacketConn,
	// and the RawConn of mdlayher/packet's Conn.
	ip4Poller *ipSocket
	pktPoller *packetSocket
	// The hand-rolled sockets the engine's sockets are compared with:
	// blocking, outside Go's network poller, sendmmsg on x/sys.
	hand4, handPkt *handRolledSocket
}

func newSendPathNet(t testing.TB) *sendPathNet {
	n := testnet.New(t)
	if out, err := n.ProberCmd(context.Background(), "ip", "route", "add", sendPathPrefix.String(), "via", n.TargetAddr4.String(), "dev", n.ProberLink).CombinedOutput(); err != nil {
		t.Fatalf("ip route add: %v: %s", err, out)
	}
	s := &sendPathNet{n: n}
	err := n.InProber(func() (err error) {
		ifi, err := net.InterfaceByName(n.ProberLink)
		if err != nil {
			return err
		}
		s.eth = &ethPath{sa: unix.RawSockaddrLinklayer{Family: unix.AF_PACKET, Protocol: htons(unix.ETH_P_IP), Ifindex: int32(ifi.Index), Halen: 6}}
		copy(s.eth.header[0:6], sendPathMAC[:])
		copy(s.eth.header[6:12], ifi.HardwareAddr)
		s.eth.header[12], s.eth.header[13] = 0x08, 0x00
		copy(s.eth.sa.Addr[:], sendPathMAC[:])
		if s.ip4, err = openIPSocket(unix.AF_INET); err != nil {
			return err
		}
		if s.pkt, err = openPacketSender(); err != nil {
			return err
		}
		if s.ip4Poller, err = openPollerIPSocket(); err != nil {
			return err
		}
		if s.pktPoller, err = openPollerPacketSocket(); err != nil {
			return err
		}
		if s.hand4, err = openHandRolled(unix.AF_INET, unix.IPPROTO_RAW); err != nil {
			return err
		}
		s.handPkt, err = openHandRolled(unix.AF_PACKET, 0)
		return err
	})
	t.Cleanup(func() {
		for _, c := range []func() error{s.ip4.close, s.pkt.close, s.ip4Poller.close, s.pktPoller.close, s.hand4.close, s.handPkt.close} {
			c()
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if s.tmpl, err = synack.NewTemplate(synack.TemplateConfig{Src: n.ProberAddr4, Options: synOptions}); err != nil {
		t.Fatal(err)
	}
	return s
}

// fill fills b with SYNs to consecutive addresses of sendPathPrefix from
// *next on (wrapping around), as Ethernet frames or raw IP packets.
func (s *sendPathNet) fill(b *sendBatch, frames bool, next *uint32) {
	b.reset()
	base := sendPathPrefix.Addr().As4()
	for !b.full() {
		a := base
		a[2] |= byte(*next >> 8 & 0x3f)
		a[3] = byte(*next)
		*next++
		dst := netip.AddrFrom4(a)
		if frames {
			b.addFrame(s.tmpl.FillPacket(b.nextFrame(), dst, 61000, 80, *next), s.eth)
		} else {
			b.add(s.tmpl.FillPacket(b.next(), dst, 61000, 80, *next), dst)
		}
	}
}

// TestAllocsSend checks that sending a batch allocates nothing, on
// the raw IP socket (x/net/ipv4's WriteBatch) and on the AF_PACKET socket
// (mdlayher/packet's RawConn), and that every packet was accepted.
func TestAllocsSend(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under the race detector (x/net's sync.Pool)")
	}
	s := newSendPathNet(t)
	for _, frames := range []bool{false, true} {
		b := newSendBatch(64)
		var next uint32
		allocs := testing.AllocsPerRun(100, func() {
			s.fill(b, frames, &next)
			if err := b.send(s.ip4, nil, s.pkt); err != nil {
				t.Fatal(err)
			}
		})
		if allocs != 0 {
			t.Errorf("frames %v: %v allocations per batch of 64, want 0", frames, allocs)
		}
		if len(b.failed) != 0 {
			t.Errorf("frames %v: %d packets refused (%v)", frames, len(b.failed), b.errs)
		}
	}
}

// BenchmarkSendPath compares the engine's send sockets with the same
// libraries in Go's network poller and with hand-rolled sockets, sending
// the same SYNs in batches of 256: raw IP through golang.org/x/net/ipv4's
// WriteBatch on a sendFD (ip/xnet), on net.FilePacketConn (ip/xnet-poller)
// and a blocking IPPROTO_RAW socket on x/sys (ip/handrolled); Ethernet
// frames on mdlayher/packet's socket as a sendFD (frame/packet), through
// its packet.Conn's RawConn (frame/packet-poller) and a blocking AF_PACKET
// socket on x/sys (frame/handrolled). One op is one SYN; it reports the
// process's CPU time and context switches per SYN.
func BenchmarkSendPath(b *testing.B) {
	s := newSendPathNet(b)
	for _, c := range []struct {
		name   string
		frames bool
		ip     *ipSocket
		pkt    *packetSocket
		hand   *handRolledSocket
	}{
		{"ip/xnet", false, s.ip4, nil, nil},
		{"ip/xnet-poller", false, s.ip4Poller, nil, nil},
		{"ip/handrolled", false, nil, nil, s.hand4},
		{"frame/packet", true, nil, s.pkt, nil},
		{"frame/packet-poller", true, nil, s.pktPoller, nil},
		{"frame/handrolled", true, nil, nil, s.handPkt},
	} {
		b.Run(c.name, func(b *testing.B) {
			batch := newSendBatch(256)
			var next uint32
			var ru0, ru1 unix.Rusage
			b.ReportAllocs()
			unix.Getrusage(unix.RUSAGE_SELF, &ru0)
			b.ResetTimer()
			for sent := 0; sent < b.N; sent += batch.len() {
				s.fill(batch, c.frames, &next)
				var err error
				if c.hand != nil {
					err = c.hand.send(batch)
				} else {
					err = batch.send(c.ip, nil, c.pkt)
				}
				if err != nil || len(batch.failed) != 0 {
					b.Fatalf("send: %v, %d refused (%v)", err, len(batch.failed), batch.errs)
				}
			}
			b.StopTimer()
			unix.Getrusage(unix.RUSAGE_SELF, &ru1)
			cpu := time.Duration(ru1.Utime.Nano() + ru1.Stime.Nano() - ru0.Utime.Nano() - ru0.Stime.Nano())
			b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/SYN")
			b.ReportMetric(float64(ru1.Nvcsw+ru1.Nivcsw-ru0.Nvcsw-ru0.Nivcsw)/float64(b.N), "ctxsw/SYN")
		})
	}
}

// openPollerIPSocket opens a raw IPv4 socket as net.FilePacketConn, in
// Go's network poller.
func openPollerIPSocket() (*ipSocket, error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_RAW|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, unix.IPPROTO_RAW)
	if err != nil {
		return nil, err
	}
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, sendBufferSize)
	f := os.NewFile(uintptr(fd), "ip4:raw")
	defer f.Close()
	c, err := net.FilePacketConn(f)
	if err != nil {
		return nil, err
	}
	return newIPSocket(c, unix.AF_INET), nil
}

// openPollerPacketSocket opens the AF_PACKET send socket as a
// mdlayher/packet Conn, in Go's network poller.
func openPollerPacketSocket() (*packetSocket, error) {
	conn, err := packet.Listen(&net.Interface{Index: 0}, packet.Raw, 0, nil)
	if err != nil {
		return nil, err
	}
	rc, err := conn.SyscallConn()
	if err != nil {
		conn.Close()
		return nil, err
	}
	_ = rc.Control(func(fd uintptr) { _ = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_SNDBUF, sendBufferSize) })
	return &packetSocket{rc: rc, close: conn.Close}, nil
}

// handRolledSocket is a send socket on x/sys alone: blocking, outside Go's
// network poller, with a send timeout so that a blocked send notices close.
type handRolledSocket struct {
	mu     sync.RWMutex
	fd     int
	closed bool
	mmsg   []unix.Mmsghdr
	iov    []unix.Iovec
	sa4    []unix.RawSockaddrInet4
}

func openHandRolled(family, proto int) (*handRolledSocket, error) {
	fd, err := unix.Socket(family, unix.SOCK_RAW|unix.SOCK_CLOEXEC, proto)
	if err != nil {
		return nil, err
	}
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, sendBufferSize)
	tv := unix.NsecToTimeval(int64(100 * time.Millisecond))
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_SNDTIMEO, &tv); err != nil {
		unix.Close(fd)
		return nil, err
	}
	return &handRolledSocket{fd: fd}, nil
}

func (s *handRolledSocket) close() error {
	if s == nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	return unix.Close(s.fd)
}

// send sends the packets of b (all raw IPv4, or all frames) with sendmmsg,
// recording refused ones in b.failed like sendBatch.send.
func (s *handRolledSocket) send(b *sendBatch) error {
	if cap(s.mmsg) < b.len() {
		s.mmsg = make([]unix.Mmsghdr, b.len())
		s.iov = make([]unix.Iovec, b.len())
		s.sa4 = make([]unix.RawSockaddrInet4, b.len())
	}
	s.mmsg = s.mmsg[:b.len()]
	for i := range b.len() {
		var h unix.Msghdr
		if b.offs[i] == ethHeaderLen {
			h.Name = (*byte)(unsafe.Pointer(&b.sall[i]))
			h.Namelen = unix.SizeofSockaddrLinklayer
			s.iov[i] = unix.Iovec{Base: &b.bufs[i][0]}
			s.iov[i].SetLen(ethHeaderLen + b.lens[i])
		} else {
			s.sa4[i] = unix.RawSockaddrInet4{Family: unix.AF_INET, Addr: [4]byte(b.ips[i][:4])}
			h.Name = (*byte)(unsafe.Pointer(&s.sa4[i]))
			h.Namelen = unix.SizeofSockaddrInet4
			s.iov[i] = unix.Iovec{Base: &b.bufs[i][0]}
			s.iov[i].SetLen(b.lens[i])
		}
		h.Iov = &s.iov[i]
		h.Iovlen = 1
		s.mmsg[i] = unix.Mmsghdr{Hdr: h}
	}
	for sent := 0; sent < len(s.mmsg); {
		s.mu.RLock()
		if s.closed {
			s.mu.RUnlock()
			return net.ErrClosed
		}
		n, _, e := unix.Syscall6(unix.SYS_SENDMMSG, uintptr(s.fd), uintptr(unsafe.Pointer(&s.mmsg[sent])), uintptr(len(s.mmsg)-sent), 0, 0, 0)
		s.mu.RUnlock()
		switch e {
		case 0:
			sent += int(n)
		case unix.EINTR, unix.EAGAIN:
		default:
			b.failed = append(b.failed, sent)
			b.errs = append(b.errs, syscall.Errno(e))
			sent++
		}
	}
	return nil
}

// TestSendAfterClose checks that a batch sent on closed sockets fails with
// net.ErrClosed instead of blocking or counting the packets as refused,
// and that the same batch is sent before the close (the control).
func TestSendAfterClose(t *testing.T) {
	s := newSendPathNet(t)
	for _, frames := range []bool{false, true} {
		b := newSendBatch(4)
		var next uint32
		s.fill(b, frames, &next)
		if err := b.send(s.ip4, nil, s.pkt); err != nil || len(b.failed) != 0 {
			t.Fatalf("frames %v, before close: %v, %d refused", frames, err, len(b.failed))
		}
	}
	s.ip4.close()
	s.pkt.close()
	for _, frames := range []bool{false, true} {
		b := newSendBatch(4)
		var next uint32
		s.fill(b, frames, &next)
		if err := b.send(s.ip4, nil, s.pkt); !errors.Is(err, net.ErrClosed) || len(b.failed) != 0 {
			t.Errorf("frames %v, after close: %v, %d refused; want net.ErrClosed, 0", frames, err, len(b.failed))
		}
	}
}
