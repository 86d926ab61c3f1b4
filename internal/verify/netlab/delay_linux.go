package netlab

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// delayTunName returns a tun device name unique to the Net and index.
func delayTunName(n *Net, i int) string {
	return fmt.Sprintf("rpy%s%d", n.ProberLink[2:min(len(n.ProberLink), 10)], i)
}

var delayIndex atomic.Int32

// AddDelayPath makes the IPv4 prefix p (which must not overlap the Net's
// own prefixes and must lie in 198.18.0.0/15) answer every SYN with a
// SYN-ACK delay ± jitter later, through a tun device in the target
// namespace. The target namespace forwards IPv4 from then on.
func (n *Net) AddDelayPath(p netip.Prefix, delay, jitter time.Duration) (*DelayPath, error) {
	p = p.Masked()
	if !p.Addr().Is4() || !netip.MustParsePrefix("198.18.0.0/15").Contains(p.Addr()) || p.Bits() < 15 {
		return nil, fmt.Errorf("netlab: delay prefix %v: want an IPv4 prefix inside 198.18.0.0/15", p)
	}
	for _, own := range []netip.Prefix{n.Answering4, n.Silent4, netip.PrefixFrom(n.TargetAddr4, linkPrefix4).Masked()} {
		if own.Overlaps(p) {
			return nil, fmt.Errorf("netlab: delay prefix %v overlaps %v", p, own)
		}
	}
	if delay < 0 || jitter < 0 || jitter > delay {
		return nil, fmt.Errorf("netlab: delay %v jitter %v: want 0 <= jitter <= delay", delay, jitter)
	}
	d := &DelayPath{Prefix: p, Delay: delay, Jitter: jitter, link: delayTunName(n, int(delayIndex.Add(1))), ns: n.TargetNS, done: make(chan struct{})}
	if err := claimDelayPrefix(d); err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			releaseDelayPrefix(d)
		}
	}()
	var fd int
	err := n.InTarget(func() error {
		var err error
		if fd, err = openTun(d.link); err != nil {
			return err
		}
		return writeSysctls([]sysctl{{"net/ipv4/ip_forward", "1"}, {"net/ipv4/conf/all/rp_filter", "0"}, {"net/ipv4/conf/" + d.link + "/rp_filter", "0"}})
	})
	if err != nil {
		if fd > 0 {
			unix.Close(fd)
		}
		return nil, err
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return nil, os.NewSyscallError("fcntl", err)
	}
	d.file = os.NewFile(uintptr(fd), "/dev/net/tun")
	if err := ipBatch(n.TargetNS, []string{
		// A long queue: a scan's burst of SYNs must wait for the
		// responder to read them, not be dropped by the device.
		fmt.Sprintf("link set %s txqueuelen 65536 up", d.link),
		fmt.Sprintf("route add %s dev %s", p, d.link),
	}); err != nil {
		d.file.Close()
		return nil, err
	}
	if err := ipBatch(n.ProberNS, []string{fmt.Sprintf("route add %s via %s dev %s", p, n.TargetAddr4, n.ProberLink)}); err != nil {
		d.file.Close()
		return nil, err
	}
	go d.serve()
	ok = true
	return d, nil
}

// openTun opens a tun device (no packet information header) named name in
// the calling thread's namespace.
func openTun(name string) (int, error) {
	fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, os.NewSyscallError("open /dev/net/tun", err)
	}
	var req struct {
		name  [unix.IFNAMSIZ]byte
		flags uint16
		_     [22]byte
	}
	copy(req.name[:], name)
	req.flags = unix.IFF_TUN | unix.IFF_NO_PI
	if _, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.TUNSETIFF, uintptr(unsafe.Pointer(&req))); errno != 0 {
		unix.Close(fd)
		return -1, os.NewSyscallError("ioctl TUNSETIFF", errno)
	}
	return fd, nil
}

// serve reads packets from the tun device and schedules the SYN-ACKs.
func (d *DelayPath) serve() {
	defer close(d.done)
	buf := make([]byte, 2048)
	for {
		n, err := d.file.Read(buf)
		if err != nil {
			return
		}
		reply, ok := synackFor(buf[:n])
		if !ok {
			continue
		}
		wait := d.Delay
		if d.Jitter > 0 {
			wait += time.Duration(rand.Int64N(int64(2*d.Jitter)+1)) - d.Jitter
		}
		d.pending.Add(1)
		time.AfterFunc(wait, func() {
			defer d.pending.Done()
			if d.closed.Load() {
				return
			}
			// Counted before it leaves, so that whoever sees the reply
			// also sees the count.
			d.synacks.Add(1)
			if _, err := d.file.Write(reply); err != nil {
				d.synacks.Add(^uint64(0))
			}
		})
	}
}
