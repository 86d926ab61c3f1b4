package rawcheck

import (
	"errors"
	"fmt"
	"net"
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

// neighbourRecheck is how often the engine looks again at the neighbour
// table while a next hop it sends to is not resolved.
const neighbourRecheck = 20 * time.Millisecond

// etherMAC returns the MAC of interface ifindex if it has Ethernet
// framing, else false: loopback, tun, WireGuard and point-to-point links
// take the raw IP socket.
func etherMAC(h *netlink.Handle, ifindex int) ([6]byte, bool, error) {
	link, err := h.LinkByIndex(ifindex)
	if err != nil {
		return [6]byte{}, false, &net.OpError{Op: "route", Net: "netlink", Err: err}
	}
	attrs := link.Attrs()
	if attrs.EncapType != "ether" || len(attrs.HardwareAddr) != 6 {
		return [6]byte{}, false, nil
	}
	return [6]byte(attrs.HardwareAddr), true, nil
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
