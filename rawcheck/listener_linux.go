package rawcheck

import (
	"encoding/binary"
	"fmt"
	"net"
	"os"
	"sync/atomic"
	"syscall"
	"unsafe"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// Receive ring geometry: 1024 blocks of 16 KiB (16 MiB per interface). A
// block is handed to the engine when full (about 100 replies) or after
// ringBlockTimeout ms, and a block retired by the timeout is used up however
// little it holds: small blocks keep a slow trickle from using up the ring,
// so that it absorbs about 100,000 replies, or a reader held up for a
// second at 100,000 replies per second.
const (
	ringBlockSize    = 16 << 10
	ringBlocks       = 1024
	ringFrameSize    = 2048 // only used by the kernel to check the request
	ringBlockTimeout = 1    // ms
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

// listener is an AF_PACKET socket on one interface with a TPACKET_V3
// receive ring: the kernel copies the packets that pass the BPF filter into
// shared memory, and the engine reads whole blocks of them with no system
// call per packet. The socket is SOCK_DGRAM, so every frame starts at the
// IP header whatever the link type, and outgoing packets are ignored
// (PACKET_IGNORE_OUTGOING), so that loopback's copy of our own SYNs is not
// seen twice.
type listener struct {
	ifindex int
	f       *os.File
	rc      syscall.RawConn
	ring    []byte
	block   int // next block to read
	ready   func(fd uintptr) bool
	drops   *atomic.Uint64
	done    chan struct{}
}

// openListener opens a listener on interface ifindex with the filter prog
// (for frames starting at the IP header). The socket is created with
// protocol 0, so it queues nothing until bind, which comes after the filter
// and the ring are in place: no unfiltered packet is ever read.
func openListener(ifindex int, prog []bpf.Instruction, drops *atomic.Uint64) (*listener, error) {
	raw, err := bpf.Assemble(prog)
	if err != nil {
		return nil, fmt.Errorf("rawcheck: assembling the reply filter: %w", err)
	}
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, 0)
	if err != nil {
		opErr := &net.OpError{Op: "socket", Net: "packet", Err: os.NewSyscallError("socket", err)}
		if err == unix.EPERM || err == unix.EACCES {
			return nil, fmt.Errorf("rawcheck: reading replies needs CAP_NET_RAW: %w", opErr)
		}
		return nil, opErr
	}
	fail := func(call string, err error) (*listener, error) {
		unix.Close(fd)
		return nil, &net.OpError{Op: "listen", Net: "packet", Err: os.NewSyscallError(call, err)}
	}
	filter := make([]unix.SockFilter, len(raw))
	for i, ins := range raw {
		filter[i] = unix.SockFilter{Code: ins.Op, Jt: ins.Jt, Jf: ins.Jf, K: ins.K}
	}
	fprog := unix.SockFprog{Len: uint16(len(filter)), Filter: &filter[0]}
	if err := unix.SetsockoptSockFprog(fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &fprog); err != nil {
		return fail("setsockopt", err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_IGNORE_OUTGOING, 1); err != nil {
		return fail("setsockopt", err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_VERSION, unix.TPACKET_V3); err != nil {
		return fail("setsockopt", err)
	}
	req := unix.TpacketReq3{
		Block_size:     ringBlockSize,
		Block_nr:       ringBlocks,
		Frame_size:     ringFrameSize,
		Frame_nr:       ringBlockSize / ringFrameSize * ringBlocks,
		Retire_blk_tov: ringBlockTimeout,
	}
	if err := unix.SetsockoptTpacketReq3(fd, unix.SOL_PACKET, unix.PACKET_RX_RING, &req); err != nil {
		return fail("setsockopt", err)
	}
	ring, err := unix.Mmap(fd, 0, ringBlockSize*ringBlocks, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return fail("mmap", err)
	}
	sa := &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifindex}
	if err := unix.Bind(fd, sa); err != nil {
		unix.Munmap(ring)
		return fail("bind", err)
	}
	f := os.NewFile(uintptr(fd), "packet")
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		unix.Munmap(ring)
		return nil, err
	}
	l := &listener{ifindex: ifindex, f: f, rc: rc, ring: ring, drops: drops, done: make(chan struct{})}
	l.ready = func(uintptr) bool { return l.blockReady() }
	return l, nil
}

// htons converts v to network byte order, as sockaddr_ll wants it.
func htons(v uint16) uint16 {
	var b [2]byte
	binary.BigEndian.PutUint16(b[:], v)
	return binary.NativeEndian.Uint16(b[:])
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
		l.block = (l.block + 1) % ringBlocks
		if l.block%64 == 0 {
			l.countDrops()
		}
	}
}

// countDrops adds the kernel's drop counter (reset on each read) to drops.
func (l *listener) countDrops() {
	l.rc.Control(func(fd uintptr) {
		if st, err := unix.GetsockoptTpacketStatsV3(int(fd), unix.SOL_PACKET, unix.PACKET_STATISTICS); err == nil && st.Drops > 0 {
			l.drops.Add(uint64(st.Drops))
		}
	})
}

// close stops run (it must have been started) and releases the ring.
func (l *listener) close() error {
	l.countDrops()
	err := l.f.Close()
	<-l.done
	unix.Munmap(l.ring)
	return err
}
