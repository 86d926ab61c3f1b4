package rawcheck

import "time"

// Receive ring geometry. The ring is made of blocks of ringBlockSize bytes;
// a block is handed to the engine when full or after ringBlockTimeout ms,
// and a block retired by the timeout is used up however little it holds,
// so small blocks keep a slow trickle of replies from using up the ring.
const (
	ringBlockSize    = 16 << 10
	ringFrameSize    = 2048 // only used by the kernel to check the request
	ringBlockTimeout = 1    // ms
	// ringReplyBytes is what one reply takes in a block: the frame header
	// (struct tpacket3_hdr and sockaddr_ll, 96 bytes aligned) and an IP
	// packet of 40 (RST) to 68 bytes (an ICMP error quoting our SYN),
	// aligned to 16.
	ringReplyBytes = 160
	// ringMinBlocks covers a reader held up for ringMinBlocks ms while
	// replies trickle in, each retiring a block of its own.
	ringMinBlocks = 64
	// ringMaxBlocks bounds the ring at 16 MiB.
	ringMaxBlocks = 1024
)

// ringStall is the longest the reader may be held up (scheduling, the
// engine lock, a garbage collection) before the ring must drop replies.
// Measured on the 16.7 M-target scan (all open, about 540k replies/s, 2
// CPUs): 25 ms dropped a reply and backed the rate off, 35 ms and 50 ms
// dropped none; the ring is a third of that scan's resident memory.
const ringStall = 35 * time.Millisecond

// ringUnlimitedRate is the send rate the ring is sized for when the rate
// is unlimited: about what one sending thread reaches.
const ringUnlimitedRate = 1_000_000

// ringBlocks returns the number of ring blocks for a prober sending rate
// SYNs per second (0: unlimited) whose replies come within timeout: enough
// to hold every reply of min(timeout, ringStall) at that rate, since at
// most one reply per SYN arrives and none arrives later than the timeout
// matters. The ring costs its size in resident memory once the reader has
// gone round it, so it is no larger than that.
func ringBlocks(rate int, timeout time.Duration) int {
	if rate <= 0 {
		rate = ringUnlimitedRate
	}
	hold := min(timeout, ringStall)
	if hold <= 0 {
		hold = ringStall
	}
	replies := int64(rate) * int64(hold) / int64(time.Second)
	blocks := int((replies*ringReplyBytes + ringBlockSize - 1) / ringBlockSize)
	return min(max(blocks, ringMinBlocks), ringMaxBlocks)
}
