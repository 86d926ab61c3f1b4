package rawcheck

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"sync/atomic"
	"syscall"
	"unsafe"

	"github.com/mdlayher/packet"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// Offsets in the TPACKET_V3 block descriptor (struct tpacket_block_desc with
// its tpacket_hdr_v1) and frame header (struct tpacket3_hdr).
const (
	blockStatusOff   = 8
	blockNumPktsOff  = 12
	blockFirstPktOff = 16

	frameNextOff    = 0
	frameSecOff     = 4
	frameNsecOff    = 8
	frameSnaplenOff = 12
	frameMacOff     = 24
)

// frameSink receives what a listener reads: frame is called for each packet
// of a block (data is valid only during the call, ts is the kernel's
// receive time in Unix ns), then flush once per block.
type frameSink interface {
	frame(data []byte, ts int64)
	flush()
}

// listener is one AF_PACKET socket bound to every interface, opened with
// github.com/mdlayher/packet, with a TPACKET_V3 receive ring: the kernel
// copies the packets that pass the BPF filter into shared memory, and the
// engine reads whole blocks of them with no system call per packet. The
// socket is SOCK_DGRAM, so every frame starts at the IP header whatever the
// link type, and outgoing packets are ignored (PACKET_IGNORE_OUTGOING), so
// that loopback's copy of our own SYNs is not seen twice. Being bound to
// no interface in particular, it also sees the replies that arrive on an
// interface that appeared after it was opened.
type listener struct {
	conn   *packet.Conn
	rc     syscall.RawConn
	ring   []byte
	blocks int
	block  int // next block to read
	ready  func(fd uintptr) bool
	drops  *atomic.Uint64
	done   chan struct{}
}

// openListener opens the listener with the filter prog (for frames starting
// at the IP header) and a ring of blocks blocks. The filter is attached
// before the socket is bound, so no unfiltered packet is ever queued.
func openListener(prog []bpf.Instruction, blocks int, drops *atomic.Uint64) (*listener, error) {
	raw, err := bpf.Assemble(prog)
	if err != nil {
		return nil, fmt.Errorf("rawcheck: assembling the reply filter: %w", err)
	}
	conn, err := packet.Listen(&net.Interface{Index: 0}, packet.Datagram, unix.ETH_P_ALL, &packet.Config{Filter: raw})
	if err != nil {
		if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) {
			return nil, fmt.Errorf("rawcheck: reading replies needs CAP_NET_RAW: %w", err)
		}
		return nil, err
	}
	rc, err := conn.SyscallConn()
	if err != nil {
		conn.Close()
		return nil, err
	}
	var ring []byte
	var call string
	cerr := rc.Control(func(fd uintptr) {
		ring, call, err = setupRing(int(fd), blocks)
	})
	if err == nil {
		err = cerr
	}
	if err != nil {
		conn.Close()
		if call != "" {
			err = os.NewSyscallError(call, err)
		}
		return nil, &net.OpError{Op: "listen", Net: "packet", Err: err}
	}
	l := &listener{conn: conn, rc: rc, ring: ring, blocks: blocks, drops: drops, done: make(chan struct{})}
	l.ready = func(uintptr) bool { return l.blockReady() }
	return l, nil
}

// setupRing makes fd's receive ring a TPACKET_V3 ring of blocks blocks and
// maps it. On failure it returns the system call that failed.
func setupRing(fd, blocks int) ([]byte, string, error) {
	if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_IGNORE_OUTGOING, 1); err != nil {
		return nil, "setsockopt", err
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_VERSION, unix.TPACKET_V3); err != nil {
		return nil, "setsockopt", err
	}
	req := unix.TpacketReq3{
		Block_size:     ringBlockSize,
		Block_nr:       uint32(blocks),
		Frame_size:     ringFrameSize,
		Frame_nr:       uint32(ringBlockSize / ringFrameSize * blocks),
		Retire_blk_tov: ringBlockTimeout,
	}
	if err := unix.SetsockoptTpacketReq3(fd, unix.SOL_PACKET, unix.PACKET_RX_RING, &req); err != nil {
		return nil, "setsockopt", err
	}
	ring, err := unix.Mmap(fd, 0, ringBlockSize*blocks, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return nil, "mmap", err
	}
	return ring, "", nil
}

// u32 reads a native-endian uint32 the kernel shares with us.
func (l *listener) u32(off int) uint32 {
	return atomic.LoadUint32((*uint32)(unsafe.Pointer(&l.ring[off])))
}

// blockReady reports whether the next block belongs to user space.
func (l *listener) blockReady() bool {
	return l.u32(l.block*ringBlockSize+blockStatusOff)&unix.TP_STATUS_USER != 0
}

// run reads blocks until the socket is closed, handing their frames to
// sink. It allocates nothing per packet.
func (l *listener) run(sink frameSink) {
	defer close(l.done)
	for {
		if !l.blockReady() {
			if err := l.rc.Read(l.ready); err != nil {
				return // closed
			}
			continue
		}
		base := l.block * ringBlockSize
		n := int(l.u32(base + blockNumPktsOff))
		off := base + int(l.u32(base+blockFirstPktOff))
		for i := 0; i < n && off < base+ringBlockSize; i++ {
			h := l.ring[off:]
			snap := int(binary.NativeEndian.Uint32(h[frameSnaplenOff:]))
			mac := int(binary.NativeEndian.Uint16(h[frameMacOff:]))
			if start := off + mac; start+snap <= base+ringBlockSize {
				ts := int64(binary.NativeEndian.Uint32(h[frameSecOff:]))*1e9 + int64(binary.NativeEndian.Uint32(h[frameNsecOff:]))
				sink.frame(l.ring[start:start+snap:start+snap], ts)
			}
			next := int(binary.NativeEndian.Uint32(h[frameNextOff:]))
			if next == 0 {
				break
			}
			off += next
		}
		sink.flush()
		atomic.StoreUint32((*uint32)(unsafe.Pointer(&l.ring[base+blockStatusOff])), unix.TP_STATUS_KERNEL)
		l.block = (l.block + 1) % l.blocks
		if l.block%64 == 0 {
			l.countDrops()
		}
	}
}

// countDrops adds the kernel's drop counter (reset on each read) to drops.
func (l *listener) countDrops() {
	if st, err := l.conn.Stats(); err == nil && st.Drops > 0 {
		l.drops.Add(uint64(st.Drops))
	}
}

// close stops run (it must have been started) and releases the ring.
func (l *listener) close() error {
	l.countDrops()
	err := l.conn.Close()
	<-l.done
	unix.Munmap(l.ring)
	return err
}

// htons converts v to network byte order, as sockaddr_ll wants it.
func htons(v uint16) uint16 {
	var b [2]byte
	binary.BigEndian.PutUint16(b[:], v)
	return binary.NativeEndian.Uint16(b[:])
}
