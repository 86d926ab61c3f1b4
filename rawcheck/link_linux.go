package rawcheck

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"syscall"
	"time"

	"github.com/mdlayher/packet"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// ethHeaderLen is the length of an Ethernet header without VLAN tag.
const ethHeaderLen = 14

// ethPath is how SYNs of a route leave as whole Ethernet frames on the
// AF_PACKET socket, skipping the kernel's IP output path (routing lookup,
// netfilter, neighbour lookup) for each of them: the frame's header and
// the link-layer address the socket sends to.
type ethPath struct {
	header [ethHeaderLen]byte // next hop's MAC, the interface's MAC, EtherType
	sa     unix.RawSockaddrLinklayer
}

// usableNeighbour is the set of neighbour states whose link-layer address
// may be used as it is: the kernel would send to it without asking again.
const usableNeighbour = netlink.NUD_REACHABLE | netlink.NUD_STALE | netlink.NUD_DELAY |
	netlink.NUD_PROBE | netlink.NUD_PERMANENT | netlink.NUD_NOARP

// neighbourRecheck is how often the engine looks again for the neighbour
// entry of a gateway that was not resolved, while probes keep using it.
const neighbourRecheck = 20 * time.Millisecond

// resolveEthPath returns the Ethernet path for packets of family src to
// gateway gw on interface ifindex, or nil when they must take the raw IP
// socket: a link without Ethernet framing (loopback, tun, WireGuard,
// point-to-point), an on-link destination (no gateway: each target has
// its own neighbour) or a gateway whose neighbour entry is not resolved.
// In that last case unresolved is true: the kernel resolves the neighbour
// when the first SYN goes out through the raw IP socket, and the engine
// looks for the entry again (see engine.recheckEth).
func resolveEthPath(h *netlink.Handle, src netip.Addr, ifindex int, gw netip.Addr) (_ *ethPath, unresolved bool, _ error) {
	if !gw.IsValid() {
		return nil, false, nil
	}
	link, err := h.LinkByIndex(ifindex)
	if err != nil {
		return nil, false, &net.OpError{Op: "route", Net: "netlink", Err: err}
	}
	attrs := link.Attrs()
	if attrs.EncapType != "ether" || len(attrs.HardwareAddr) != 6 {
		return nil, false, nil
	}
	family := netlink.FAMILY_V4
	if src.Is6() {
		family = netlink.FAMILY_V6
	}
	neighs, err := h.NeighList(ifindex, family)
	if err != nil {
		return nil, false, &net.OpError{Op: "route", Net: "netlink", Err: err}
	}
	for _, n := range neighs {
		a, ok := netip.AddrFromSlice(n.IP)
		if !ok || a.Unmap() != gw || n.State&usableNeighbour == 0 || len(n.HardwareAddr) != 6 {
			continue
		}
		p := &ethPath{}
		copy(p.header[0:6], n.HardwareAddr)
		copy(p.header[6:12], attrs.HardwareAddr)
		etherType := uint16(unix.ETH_P_IP)
		if src.Is6() {
			etherType = unix.ETH_P_IPV6
		}
		p.header[12], p.header[13] = byte(etherType>>8), byte(etherType)
		p.sa = unix.RawSockaddrLinklayer{Family: unix.AF_PACKET, Protocol: htons(etherType), Ifindex: int32(ifindex), Halen: 6}
		copy(p.sa.Addr[:], n.HardwareAddr)
		return p, false, nil
	}
	return nil, true, nil
}

// packetSocket is the send-only AF_PACKET socket that sends whole
// Ethernet frames. It is opened and bound by github.com/mdlayher/packet,
// with protocol 0, so it receives nothing; each message names its
// interface. Batches are sent with sendmmsg through its RawConn.
type packetSocket struct {
	rc    syscall.RawConn
	close func() error
}

// openPacketSender opens the AF_PACKET send socket. The socket
// packet.Listen made is taken out of Go's network poller, as a sendFD:
// a duplicate of its descriptor is kept and the packet.Conn closed, which
// removes the socket from the poller's epoll set.
func openPacketSender() (*packetSocket, error) {
	conn, err := packet.Listen(&net.Interface{Index: 0}, packet.Raw, 0, nil)
	if err != nil {
		if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) {
			return nil, fmt.Errorf("rawcheck: sending Ethernet frames needs CAP_NET_RAW: %w", err)
		}
		return nil, err
	}
	defer conn.Close()
	rc, err := conn.SyscallConn()
	if err != nil {
		return nil, err
	}
	fd := -1
	var dupErr error
	if err := rc.Control(func(s uintptr) { fd, dupErr = unix.FcntlInt(s, unix.F_DUPFD_CLOEXEC, 0) }); err != nil {
		return nil, err
	}
	if dupErr != nil {
		return nil, &net.OpError{Op: "socket", Net: "packet", Err: os.NewSyscallError("fcntl", dupErr)}
	}
	sfd, err := newSendFD(fd)
	if err != nil {
		return nil, &net.OpError{Op: "socket", Net: "packet", Err: err}
	}
	return &packetSocket{rc: sfd, close: sfd.Close}, nil
}

// recheckEth looks again, at most every neighbourRecheck, for the gateway
// neighbour of rt that was not resolved when rt was built, and switches rt
// to the AF_PACKET socket once it is.
func (e *engine) recheckEth(rt *route) {
	now := e.now()
	next := rt.ethRecheck.Load()
	if next == 0 || now < next || !rt.ethRecheck.CompareAndSwap(next, now+int64(neighbourRecheck)) {
		return
	}
	e.router.mu.Lock()
	p, unresolved, err := resolveEthPath(e.router.h, rt.src, rt.ifindex, rt.gw)
	e.router.mu.Unlock()
	if err != nil || unresolved {
		return
	}
	rt.eth.Store(p)
	rt.ethRecheck.Store(0)
}
