package synack

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"

	"github.com/rawprobe/rawprobe/internal/verify/testnet"
)

// The live tests run in a private test network (internal/verify/testnet): SYNs
// built here go from the prober namespace to the target namespace only.

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// packetSocket opens an AF_PACKET socket of type link on ifindex, attaches
// prog (if any) and drains what arrived before the filter was in place.
func packetSocket(ifindex int, link LinkType, prog []bpf.Instruction) (int, error) {
	typ := unix.SOCK_DGRAM
	if link == LinkEthernet {
		typ = unix.SOCK_RAW
	}
	fd, err := unix.Socket(unix.AF_PACKET, typ|unix.SOCK_CLOEXEC, int(htons(unix.ETH_P_ALL)))
	if err != nil {
		return -1, fmt.Errorf("AF_PACKET socket: %w", err)
	}
	if prog != nil {
		raw, err := bpf.Assemble(prog)
		if err != nil {
			unix.Close(fd)
			return -1, err
		}
		f := make([]unix.SockFilter, len(raw))
		for i, r := range raw {
			f[i] = unix.SockFilter{Code: r.Op, Jt: r.Jt, Jf: r.Jf, K: r.K}
		}
		fp := unix.SockFprog{Len: uint16(len(f)), Filter: (*unix.SockFilter)(unsafe.Pointer(&f[0]))}
		if err := unix.SetsockoptSockFprog(fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &fp); err != nil {
			unix.Close(fd)
			return -1, fmt.Errorf("SO_ATTACH_FILTER: %w", err)
		}
	}
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifindex}); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("bind: %w", err)
	}
	buf := make([]byte, 2048)
	for {
		if _, _, err := unix.Recvfrom(fd, buf, unix.MSG_DONTWAIT); err != nil {
			break
		}
	}
	tv := unix.NsecToTimeval((100 * time.Millisecond).Nanoseconds())
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		unix.Close(fd)
		return -1, err
	}
	return fd, nil
}

// liveSockets are the prober's sockets, created in its namespace.
type liveSockets struct {
	send4, send6 int    // raw IP sockets, header included
	recv         [2]int // filtered AF_PACKET: [0] LinkIP range A, [1] LinkEthernet range B
	all          int    // unfiltered AF_PACKET, LinkEthernet
}

const (
	rangeALo, rangeAHi = 40000, 40099
	rangeBLo, rangeBHi = 50000, 50099
)

func openLiveSockets(t *testing.T, n *testnet.Net) *liveSockets {
	s := &liveSockets{}
	err := n.InProber(func() error {
		ifi, err := net.InterfaceByName(n.ProberLink)
		if err != nil {
			return err
		}
		if s.send4, err = unix.Socket(unix.AF_INET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_RAW); err != nil {
			return fmt.Errorf("raw IPv4 socket: %w", err)
		}
		if s.send6, err = unix.Socket(unix.AF_INET6, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_RAW); err != nil {
			return fmt.Errorf("raw IPv6 socket: %w", err)
		}
		progA, _ := Filter(LinkIP, rangeALo, rangeAHi)
		progB, _ := Filter(LinkEthernet, rangeBLo, rangeBHi)
		if s.recv[0], err = packetSocket(ifi.Index, LinkIP, progA); err != nil {
			return err
		}
		if s.recv[1], err = packetSocket(ifi.Index, LinkEthernet, progB); err != nil {
			return err
		}
		s.all, err = packetSocket(ifi.Index, LinkEthernet, nil)
		return err
	})
	t.Cleanup(func() {
		for _, fd := range []int{s.send4, s.send6, s.recv[0], s.recv[1], s.all} {
			if fd > 0 {
				unix.Close(fd)
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func (s *liveSockets) send(t *testing.T, pkt []byte, dst netip.Addr) {
	t.Helper()
	var err error
	if dst.Is4() {
		err = unix.Sendto(s.send4, pkt, 0, &unix.SockaddrInet4{Addr: dst.As4()})
	} else {
		err = unix.Sendto(s.send6, pkt, 0, &unix.SockaddrInet6{Addr: dst.As16()})
	}
	if err != nil {
		t.Fatalf("sending to %v: %v", dst, err)
	}
}

// TestLiveFilterAndParse sends SYNs built by Template from the prober
// namespace to open, closed and unreachable targets over IPv4 and IPv6 and
// reads the replies through two AF_PACKET sockets whose Filter programs
// cover disjoint source-port ranges: each socket must get exactly the
// replies to its own range, every one of which parses and validates, and
// an unfiltered socket shows the other range's replies did arrive.
func TestLiveFilterAndParse(t *testing.T) {
	n := testnet.New(t)
	l := n.Listen(t, "tcp", ":8080")
	s := openLiveSockets(t, n)
	key, err := NewCookieKey()
	if err != nil {
		t.Fatal(err)
	}

	type probe struct {
		name   string
		target netip.AddrPort
		want   Kind
	}
	open4 := n.Answering4.Addr().Next()
	open6 := n.Answering6.Addr().Next()
	probes := []probe{
		{"v4 open", netip.AddrPortFrom(open4, 8080), KindSYNACK},
		{"v4 closed", netip.AddrPortFrom(open4, 8081), KindRST},
		{"v4 unreachable", netip.AddrPortFrom(n.Unreachable4.Addr().Next(), 8080), KindUnreachable},
		{"v6 open", netip.AddrPortFrom(open6, 8080), KindSYNACK},
		{"v6 closed", netip.AddrPortFrom(open6, 8081), KindRST},
		{"v6 unreachable", netip.AddrPortFrom(n.Unreachable6.Addr().Next(), 8080), KindUnreachable},
	}
	t4, err := NewTemplate(TemplateConfig{Src: n.ProberAddr4, Options: TCPOptions{MSS: 1460, SACKPermitted: true, Timestamps: true, TSval: 1, WindowScale: 7}})
	if err != nil {
		t.Fatal(err)
	}
	t6, err := NewTemplate(TemplateConfig{Src: n.ProberAddr6, Options: TCPOptions{MSS: 1440, WindowScale: -1}})
	if err != nil {
		t.Fatal(err)
	}
	// want[socket][prober port] is the kind of reply each socket must see.
	want := [2]map[uint16]Kind{{}, {}}
	buf := make([]byte, 128)
	for i, p := range probes {
		for r, base := range []uint16{rangeALo, rangeBLo} {
			sport := base + uint16(i)
			tmpl, src := t4, n.ProberAddr4
			if p.target.Addr().Is6() {
				tmpl, src = t6, n.ProberAddr6
			}
			m := tmpl.FillPacket(buf, p.target.Addr(), sport, p.target.Port(), key.Cookie(src, p.target.Addr(), sport, p.target.Port()))
			s.send(t, buf[:m], p.target.Addr())
			want[r][sport] = p.want
		}
	}

	frame := make([]byte, 65536)
	for r, fd := range s.recv {
		link := []LinkType{LinkIP, LinkEthernet}[r]
		got := map[uint16]Kind{}
		deadline := time.Now().Add(5 * time.Second)
		for len(got) < len(want[r]) && time.Now().Before(deadline) {
			k, _, err := unix.Recvfrom(fd, frame, 0)
			if err != nil {
				continue // timeout: look at the deadline
			}
			var rep Reply
			if err := Parse(frame[:k], link, &rep); err != nil {
				t.Errorf("socket %d: filter let through a frame Parse rejects (%v): %x", r, err, frame[:k])
				continue
			}
			prober, target := rep.Probe()
			if !key.Validate(&rep) {
				t.Errorf("socket %d: reply %v from %v to %v does not validate", r, rep.Kind, target, prober)
				continue
			}
			if _, ok := want[r][prober.Port()]; !ok {
				t.Errorf("socket %d: got a reply for port %d, outside its filter range", r, prober.Port())
				continue
			}
			if rep.Kind == KindSYNACK {
				// Build the RST the engine would send and check it parses;
				// the prober kernel sends its own RST too (port not bound).
				if m, err := BuildRST(buf, &rep); err != nil || Parse(buf[:m], LinkIP, &Reply{}) != nil {
					t.Errorf("BuildRST for %v: %d, %v", target, m, err)
				}
			}
			got[prober.Port()] = rep.Kind
		}
		for port, kind := range want[r] {
			if got[port] != kind {
				t.Errorf("socket %d (%v): prober port %d got %v, want %v", r, link, port, got[port], kind)
			}
		}
		t.Logf("socket %d (%v): %d replies, as expected: %v", r, link, len(got), got)
	}

	// Positive control for the filters: the unfiltered socket saw replies
	// for both ranges (so each filter did drop the other's).
	seen := map[bool]bool{}
	deadline := time.Now().Add(2 * time.Second)
	for !(seen[true] && seen[false]) && time.Now().Before(deadline) {
		k, _, err := unix.Recvfrom(s.all, frame, 0)
		if err != nil {
			continue
		}
		var rep Reply
		if Parse(frame[:k], LinkEthernet, &rep) == nil && key.Validate(&rep) {
			p, _ := rep.Probe()
			seen[p.Port() >= rangeBLo] = true
		}
	}
	if !seen[true] || !seen[false] {
		t.Errorf("unfiltered socket saw replies for range A: %v, range B: %v", seen[false], seen[true])
	}
	// Never a completed handshake: the prober kernel answered each SYN-ACK
	// with RST.
	time.Sleep(200 * time.Millisecond)
	if a := l.Accepted(); a != 0 {
		t.Errorf("the target accepted %d connections", a)
	}
}

// TestLiveLinuxOptionOrder captures the SYNs the prober's own kernel sends
// with timestamps and SACK on and off, and checks that a Template with the
// same option values produces the same option bytes: the layout is Linux's.
func TestLiveLinuxOptionOrder(t *testing.T) {
	n := testnet.New(t)
	s := openLiveSockets(t, n)
	target := n.Answering4.Addr().Next()
	for _, c := range []struct{ ts, sack int }{{1, 1}, {1, 0}, {0, 1}, {0, 0}} {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		out, err := n.ProberCmd(ctx, "sysctl", "-w", fmt.Sprintf("net.ipv4.tcp_timestamps=%d", c.ts), fmt.Sprintf("net.ipv4.tcp_sack=%d", c.sack)).CombinedOutput()
		cancel()
		if err != nil {
			t.Fatalf("sysctl in the prober namespace: %v: %s", err, out)
		}
		var sport uint16
		err = n.InProber(func() error {
			fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
			if err != nil {
				return err
			}
			defer unix.Close(fd)
			if err := unix.Connect(fd, &unix.SockaddrInet4{Addr: target.As4(), Port: 8081}); err != unix.EINPROGRESS {
				return fmt.Errorf("connect: %v", err)
			}
			sa, err := unix.Getsockname(fd)
			if err != nil {
				return err
			}
			sport = uint16(sa.(*unix.SockaddrInet4).Port)
			time.Sleep(50 * time.Millisecond) // let the SYN out before close
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		kernel := captureSYNOptions(t, s.all, sport)
		opts := TCPOptions{WindowScale: -1}
		for o := kernel; len(o) > 0; {
			switch o[0] {
			case 1:
				o = o[1:]
				continue
			case 2:
				opts.MSS = uint16(o[2])<<8 | uint16(o[3])
			case 3:
				opts.WindowScale = int(o[2])
			case 4:
				opts.SACKPermitted = true
			case 8:
				opts.Timestamps, opts.TSval = true, uint32(o[2])<<24|uint32(o[3])<<16|uint32(o[4])<<8|uint32(o[5])
			}
			if len(o) < 2 || int(o[1]) < 2 || int(o[1]) > len(o) {
				t.Fatalf("kernel options %x do not decode", kernel)
			}
			o = o[o[1]:]
		}
		if opts.SACKPermitted != (c.sack == 1) || opts.Timestamps != (c.ts == 1) {
			t.Fatalf("ts=%d sack=%d: kernel sent %x", c.ts, c.sack, kernel)
		}
		tmpl, err := NewTemplate(TemplateConfig{Src: n.ProberAddr4, Options: opts})
		if err != nil {
			t.Fatal(err)
		}
		seg := make([]byte, 64)
		m := tmpl.FillSegment(seg, target, sport, 8081, 0)
		if ours := seg[tcpMinLen:m]; string(ours) != string(kernel) {
			t.Errorf("ts=%d sack=%d: kernel options %x, Template options %x", c.ts, c.sack, kernel, ours)
		} else {
			t.Logf("ts=%d sack=%d: kernel and Template both send %x", c.ts, c.sack, ours)
		}
	}
}

// captureSYNOptions returns the TCP options of the SYN from sport seen on
// the unfiltered socket fd.
func captureSYNOptions(t *testing.T, fd int, sport uint16) []byte {
	t.Helper()
	frame := make([]byte, 65536)
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		k, _, err := unix.Recvfrom(fd, frame, 0)
		if err != nil || k < ethHeaderLen+ipv4MinLen+tcpMinLen {
			continue
		}
		f := frame[:k]
		if f[12] != 0x08 || f[13] != 0x00 || f[ethHeaderLen+ipv4Protocol] != protoTCP {
			continue
		}
		tcp := tcpHeader(f[ethHeaderLen+ipv4Header(f[ethHeaderLen:]).headerLen():])
		if tcp.srcPort() == sport && tcp.flags() == FlagSYN && tcp.headerLen() <= len(tcp) {
			return append([]byte(nil), tcp[tcpMinLen:tcp.headerLen()]...)
		}
	}
	t.Fatalf("no SYN from port %d captured", sport)
	return nil
}
