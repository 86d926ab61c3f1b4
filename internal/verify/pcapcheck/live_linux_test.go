package pcapcheck_test

import (
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"golang.org/x/sys/unix"

	"github.com/rawprobe/rawprobe/internal/verify/pcapcheck"
	"github.com/rawprobe/rawprobe/internal/verify/testnet"
)

// rawSender sends hand-built TCP segments from the prober namespace.
type rawSender struct {
	fd4, fd6 int
}

// newRawSender opens raw TCP sockets in the prober namespace; they are
// closed in t.Cleanup.
func newRawSender(t *testing.T, n *testnet.Net) *rawSender {
	t.Helper()
	s := &rawSender{fd4: -1, fd6: -1}
	t.Cleanup(func() {
		unix.Close(s.fd4)
		unix.Close(s.fd6)
	})
	err := n.InProber(func() error {
		var err error
		if s.fd4, err = unix.Socket(unix.AF_INET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_TCP); err != nil {
			return os.NewSyscallError("socket", err)
		}
		if s.fd6, err = unix.Socket(unix.AF_INET6, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_TCP); err != nil {
			return os.NewSyscallError("socket", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// send sends one segment with the given flags from src to dst.
func (s *rawSender) send(t *testing.T, src, dst netip.AddrPort, seq, ack uint32, syn, rst bool) {
	t.Helper()
	var ip gopacket.NetworkLayer
	if src.Addr().Is4() {
		ip = &layers.IPv4{Version: 4, Protocol: layers.IPProtocolTCP, SrcIP: src.Addr().AsSlice(), DstIP: dst.Addr().AsSlice()}
	} else {
		ip = &layers.IPv6{Version: 6, NextHeader: layers.IPProtocolTCP, SrcIP: src.Addr().AsSlice(), DstIP: dst.Addr().AsSlice()}
	}
	tcp := &layers.TCP{SrcPort: layers.TCPPort(src.Port()), DstPort: layers.TCPPort(dst.Port()),
		Seq: seq, Ack: ack, SYN: syn, RST: rst, ACK: ack != 0, Window: 65535}
	tcp.SetNetworkLayerForChecksum(ip)
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, tcp); err != nil {
		t.Fatal(err)
	}
	var err error
	if dst.Addr().Is4() {
		err = unix.Sendto(s.fd4, buf.Bytes(), 0, &unix.SockaddrInet4{Addr: dst.Addr().As4()})
	} else {
		err = unix.Sendto(s.fd6, buf.Bytes(), 0, &unix.SockaddrInet6{Addr: dst.Addr().As16()})
	}
	if err != nil {
		t.Fatalf("sending to %v: %v", dst, os.NewSyscallError("sendto", err))
	}
}

// bindPort reserves a TCP port on addr in the prober namespace without
// listening: the prober's kernel answers a SYN-ACK to it with one RST,
// which is the correct end of a half-open check.
func bindPort(t *testing.T, n *testnet.Net, addr netip.Addr, port uint16) {
	t.Helper()
	err := n.InProber(func() error {
		family, sa := unix.AF_INET6, unix.Sockaddr(&unix.SockaddrInet6{Addr: addr.As16(), Port: int(port)})
		if addr.Is4() {
			family, sa = unix.AF_INET, &unix.SockaddrInet4{Addr: addr.As4(), Port: int(port)}
		}
		fd, err := unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return os.NewSyscallError("socket", err)
		}
		t.Cleanup(func() { unix.Close(fd) })
		return os.NewSyscallError("bind", unix.Bind(fd, sa))
	})
	if err != nil {
		t.Fatal(err)
	}
}

// A correct half-open check (SYN, SYN-ACK, one RST) passes, for IPv4 and
// IPv6, and the capture classifies closed, silent and unreachable targets.
func TestLiveCorrectFlows(t *testing.T) {
	n := testnet.New(t)
	l := n.Listen(t, "tcp", ":80")
	c := pcapcheck.Start(t, n.ProberLink, n.InProber)
	s := newRawSender(t, n)
	p4 := netip.AddrPortFrom(n.ProberAddr4, 33000)
	p6 := netip.AddrPortFrom(n.ProberAddr6, 33000)
	bindPort(t, n, p4.Addr(), p4.Port())
	bindPort(t, n, p6.Addr(), p6.Port())
	open4 := netip.AddrPortFrom(n.Answering4.Addr().Next(), 80)
	open6 := netip.AddrPortFrom(n.Answering6.Addr().Next(), 80)
	s.send(t, p4, open4, 1000, 0, true, false)
	s.send(t, p6, open6, 2000, 0, true, false)
	s.send(t, p4, netip.AddrPortFrom(open4.Addr(), 81), 3000, 0, true, false)
	s.send(t, p4, netip.AddrPortFrom(n.Silent4.Addr().Next(), 80), 4000, 0, true, false)
	s.send(t, p4, netip.AddrPortFrom(n.Unreachable4.Addr().Next(), 80), 5000, 0, true, false)
	s.send(t, p6, netip.AddrPortFrom(n.Unreachable6.Addr().Next(), 80), 6000, 0, true, false)
	r := c.Analyze()
	t.Log(r)
	if err := r.Err(); err != nil {
		t.Fatal(err)
	}
	if len(r.Flows) != 6 || r.SYNACKFlows != 2 || r.RSTFlows != 1 || r.NoReplyFlows != 1 || r.ICMPFlows != 2 {
		t.Errorf("got %v; want 6 flows: 2 syn-ack, 1 rst, 1 no reply, 2 icmp", r)
	}
	if r.Gap.N != 2 || r.Gap.Max <= 0 {
		t.Errorf("gap %v, want 2 positive gaps", r.Gap)
	}
	if r.Dropped != 0 {
		t.Errorf("capture dropped %d packets", r.Dropped)
	}
	if l.Accepted() != 0 {
		t.Errorf("target accepted %d connections from half-open checks", l.Accepted())
	}
}

// Negative control: an ordinary connect and close completes the handshake,
// which the analysis must flag (and the target application sees).
func TestLiveDialIsFlagged(t *testing.T) {
	n := testnet.New(t)
	l := n.Listen(t, "tcp", ":80")
	c := pcapcheck.Start(t, n.ProberLink, n.InProber)
	err := n.InProber(func() error {
		conn, err := net.DialTimeout("tcp", netip.AddrPortFrom(n.Answering4.Addr().Next(), 80).String(), 5*time.Second)
		if err != nil {
			return err
		}
		return conn.Close()
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := l.WaitAccepted(1, 5*time.Second); got != 1 {
		t.Errorf("target accepted %d connections, want 1", got)
	}
	r := c.Analyze()
	t.Log(r)
	if r.Err() == nil || r.ACKOnlySegments == 0 {
		t.Fatalf("a completed handshake was not flagged: %v", r)
	}
	if !strings.Contains(r.Err().Error(), "ACK alone") {
		t.Errorf("error does not name the ACK: %v", r.Err())
	}
}

// Negative control: a second RST after the kernel's must be flagged.
func TestLiveTwoRSTsAreFlagged(t *testing.T) {
	n := testnet.New(t)
	n.Listen(t, "tcp", ":80")
	c := pcapcheck.Start(t, n.ProberLink, n.InProber)
	s := newRawSender(t, n)
	p := netip.AddrPortFrom(n.ProberAddr4, 33001)
	bindPort(t, n, p.Addr(), p.Port())
	dst := netip.AddrPortFrom(n.Answering4.Addr().Next(), 80)
	s.send(t, p, dst, 7000, 0, true, false)
	time.Sleep(50 * time.Millisecond) // the kernel's RST answers the SYN-ACK
	s.send(t, p, dst, 7001, 0, false, true)
	r := c.Analyze()
	t.Log(r)
	err := r.Err()
	if err == nil || !strings.Contains(err.Error(), "2 RSTs") {
		t.Fatalf("two RSTs not flagged: %v (%v)", err, r)
	}
}

// The capture keeps up with a burst of half-open checks: nothing dropped,
// every flow correct. 50,000 flows (150,000 frames) by default; set
// RAWPROBE_PCAPCHECK_FLOWS for another count.
func TestLoadCapture(t *testing.T) {
	if testing.Short() {
		t.Skip("load test: runs in make test's second pass without -race")
	}
	flows := 50000
	if v := os.Getenv("RAWPROBE_PCAPCHECK_FLOWS"); v != "" {
		var err error
		if flows, err = strconv.Atoi(v); err != nil || flows < 1 || flows > 1000000 {
			t.Fatalf("RAWPROBE_PCAPCHECK_FLOWS=%q: want a count from 1 to 1000000", v)
		}
	}
	n := testnet.New(t)
	l := n.Listen(t, "tcp", ":80")
	c := pcapcheck.Start(t, n.ProberLink, n.InProber)
	s := newRawSender(t, n)
	backlogBefore, err := testnet.BacklogDrops()
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	dst := netip.AddrPortFrom(n.Answering4.Addr().Next(), 80)
	for i := range flows {
		if i > 0 && i%50000 == 0 {
			dst = netip.AddrPortFrom(dst.Addr().Next(), 80) // new 4-tuples
		}
		src := netip.AddrPortFrom(n.ProberAddr4, uint16(10000+i%50000))
		s.send(t, src, dst, uint32(i)*7919, 0, true, false)
	}
	sent := time.Since(start)
	r := c.Analyze()
	backlogAfter, err := testnet.BacklogDrops()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d SYNs sent in %v; %v; host input backlog drops during the test: %d", flows, sent, r, backlogAfter-backlogBefore)
	if err := r.Err(); err != nil {
		t.Fatal(err)
	}
	if r.SYNACKFlows != flows || r.Gap.N != flows || len(r.Flows) != flows {
		t.Errorf("%d syn-ack flows, %d gaps; want %d", r.SYNACKFlows, r.Gap.N, flows)
	}
	if l.Accepted() != 0 {
		t.Errorf("target accepted %d connections", l.Accepted())
	}
}

// On lo every frame passes twice (out and in); the capture keeps one copy,
// so a correct check there shows one SYN, one SYN-ACK and one RST.
func TestLiveLoopbackOnce(t *testing.T) {
	n := testnet.New(t)
	var ln net.Listener
	err := n.InProber(func() error {
		var err error
		ln, err = net.Listen("tcp4", "127.0.0.1:0")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c := pcapcheck.Start(t, "lo", n.InProber)
	s := newRawSender(t, n)
	src := netip.MustParseAddrPort("127.0.0.1:33002")
	bindPort(t, n, src.Addr(), src.Port())
	s.send(t, src, ln.Addr().(*net.TCPAddr).AddrPort(), 9000, 0, true, false)
	r := c.Analyze()
	t.Log(r)
	if err := r.Err(); err != nil {
		t.Fatal(err)
	}
	if len(r.Flows) != 1 {
		t.Fatalf("%d flows, want 1", len(r.Flows))
	}
	if f := r.Flows[0]; f.SYNs != 1 || f.SYNACKs != 1 || f.ProberRSTs != 1 || r.Packets != 3 {
		t.Errorf("flow %+v in %d packets; want one SYN, SYN-ACK and RST", f, r.Packets)
	}
}
