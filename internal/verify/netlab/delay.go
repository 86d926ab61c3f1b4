package netlab

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// DelayPath is a prefix of the target namespace answered by a user-space
// responder on a tun device after a chosen delay: every TCP SYN to one of
// its addresses, on any port, gets a SYN-ACK delay ± jitter later. It
// stands in for a network emulator's delay (the kernel may lack netem): the
// target forwards the prefix to the tun device, the responder reads the
// SYNs there and writes the SYN-ACKs back into it, and the target forwards
// them to the prober. Other packets (the prober's RSTs) are read and
// dropped. Close stops it.
type DelayPath struct {
	// Prefix is the IPv4 prefix the path answers for.
	Prefix netip.Prefix
	// Delay and Jitter are the reply delay and the bound of its uniform
	// random variation.
	Delay, Jitter time.Duration

	file    *os.File
	link    string
	ns      string // the target namespace
	closed  atomic.Bool
	pending sync.WaitGroup
	done    chan struct{}
	synacks atomic.Uint64
}

// SYNACKs returns the number of SYN-ACKs the path has sent.
func (d *DelayPath) SYNACKs() uint64 { return d.synacks.Load() }

// Close stops the responder and removes its tun device (and with it the
// target's route to the prefix). SYN-ACKs still waiting are not sent.
func (d *DelayPath) Close() error {
	if d.closed.Swap(true) {
		return nil
	}
	err := d.file.Close()
	<-d.done
	d.pending.Wait()
	releaseDelayPrefix(d)
	return err
}

// delayPrefixes are the prefixes of the open delay paths, by target
// namespace.
var delayPrefixes struct {
	sync.Mutex
	byNS map[string][]netip.Prefix
}

// claimDelayPrefix records d's prefix, or fails if it overlaps another
// delay path of the same network.
func claimDelayPrefix(d *DelayPath) error {
	delayPrefixes.Lock()
	defer delayPrefixes.Unlock()
	for _, q := range delayPrefixes.byNS[d.ns] {
		if q.Overlaps(d.Prefix) {
			return fmt.Errorf("netlab: delay prefix %v overlaps delay prefix %v", d.Prefix, q)
		}
	}
	if delayPrefixes.byNS == nil {
		delayPrefixes.byNS = make(map[string][]netip.Prefix)
	}
	delayPrefixes.byNS[d.ns] = append(delayPrefixes.byNS[d.ns], d.Prefix)
	return nil
}

// releaseDelayPrefix forgets d's prefix.
func releaseDelayPrefix(d *DelayPath) {
	delayPrefixes.Lock()
	defer delayPrefixes.Unlock()
	ps := delayPrefixes.byNS[d.ns]
	for i, q := range ps {
		if q == d.Prefix {
			ps = append(ps[:i], ps[i+1:]...)
			break
		}
	}
	if len(ps) == 0 {
		delete(delayPrefixes.byNS, d.ns)
	} else {
		delayPrefixes.byNS[d.ns] = ps
	}
}

// synackFor returns the SYN-ACK answering the IPv4 TCP SYN pkt, or false
// if pkt is anything else. The SYN-ACK acknowledges the SYN's sequence
// number, carries an MSS option and a random sequence number.
func synackFor(pkt []byte) ([]byte, bool) {
	if len(pkt) < 20 || pkt[0]>>4 != 4 || pkt[9] != protoTCP {
		return nil, false
	}
	ihl := int(pkt[0]&15) * 4
	if ihl < 20 || len(pkt) < ihl+20 || binary.BigEndian.Uint16(pkt[6:8])&0x3fff != 0 {
		return nil, false // no fragments
	}
	tcp := pkt[ihl:]
	if tcp[13]&0x3f != 0x02 { // SYN only
		return nil, false
	}
	const ipLen, tcpLen = 20, 24
	r := make([]byte, ipLen+tcpLen)
	r[0] = 0x45
	binary.BigEndian.PutUint16(r[2:4], ipLen+tcpLen)
	binary.BigEndian.PutUint16(r[6:8], 0x4000) // DF
	r[8] = 64
	r[9] = protoTCP
	copy(r[12:16], pkt[16:20]) // from the SYN's destination
	copy(r[16:20], pkt[12:16]) // to its source
	binary.BigEndian.PutUint16(r[10:12], ^onesSum(0, r[:ipLen]))
	t := r[ipLen:]
	copy(t[0:2], tcp[2:4])
	copy(t[2:4], tcp[0:2])
	binary.BigEndian.PutUint32(t[4:8], rand.Uint32())
	binary.BigEndian.PutUint32(t[8:12], binary.BigEndian.Uint32(tcp[4:8])+1)
	t[12] = tcpLen / 4 << 4
	t[13] = 0x12 // SYN, ACK
	binary.BigEndian.PutUint16(t[14:16], 64240)
	t[20], t[21] = 2, 4 // MSS
	binary.BigEndian.PutUint16(t[22:24], 1460)
	pseudo := make([]byte, 12)
	copy(pseudo[0:8], r[12:20])
	pseudo[9] = protoTCP
	binary.BigEndian.PutUint16(pseudo[10:12], tcpLen)
	binary.BigEndian.PutUint16(t[16:18], ^onesSum(onesSum(0, pseudo), t))
	return r, true
}

// onesSum adds b to the ones' complement sum s.
func onesSum(s uint16, b []byte) uint16 {
	sum := uint32(s)
	for ; len(b) >= 2; b = b[2:] {
		sum += uint32(binary.BigEndian.Uint16(b))
	}
	if len(b) == 1 {
		sum += uint32(b[0]) << 8
	}
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	return uint16(sum)
}

// protoTCP is TCP's IP protocol number.
const protoTCP = 6
