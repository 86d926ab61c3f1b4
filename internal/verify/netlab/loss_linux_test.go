package netlab

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"os"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// synTo builds a 20-byte TCP SYN from src to dst with a valid checksum.
func synTo(src, dst netip.AddrPort, seq uint32) []byte {
	h := make([]byte, 20)
	binary.BigEndian.PutUint16(h[0:], src.Port())
	binary.BigEndian.PutUint16(h[2:], dst.Port())
	binary.BigEndian.PutUint32(h[4:], seq)
	h[12] = 5 << 4
	h[13] = 0x02 // SYN
	binary.BigEndian.PutUint16(h[14:], 65535)
	var sum uint32
	add := func(b []byte) {
		for i := 0; i+1 < len(b); i += 2 {
			sum += uint32(binary.BigEndian.Uint16(b[i:]))
		}
	}
	s, d := src.Addr().As4(), dst.Addr().As4()
	add(s[:])
	add(d[:])
	sum += unix.IPPROTO_TCP + uint32(len(h))
	add(h)
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	binary.BigEndian.PutUint16(h[16:], ^uint16(sum))
	return h
}

// sendSYNs sends count SYNs from the prober to a closed port of the
// answering prefix through a raw socket, and returns how many of them
// reached the target's TCP (its Tcp.InSegs delta: the target answers RST,
// which the prober's kernel ignores, so nothing else arrives).
func sendSYNs(t *testing.T, n *Net, count int) uint64 {
	t.Helper()
	before, err := n.TargetCounters()
	if err != nil {
		t.Fatal(err)
	}
	dst := netip.AddrPortFrom(n.Answering4.Addr().Next(), 9)
	err = n.InProber(func() error {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_TCP)
		if err != nil {
			return os.NewSyscallError("socket", err)
		}
		defer unix.Close(fd)
		to := &unix.SockaddrInet4{Addr: dst.Addr().As4()}
		for i := range count {
			src := netip.AddrPortFrom(n.ProberAddr4, uint16(20000+i%20000))
			if err := unix.Sendto(fd, synTo(src, dst, uint32(i)), 0, to); err != nil {
				return fmt.Errorf("sending SYN %d: %w", i, os.NewSyscallError("sendto", err))
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// Wait until the counter reaches count or stops moving for 150 ms.
	var last uint64
	stable := 0
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
		after, err := n.TargetCounters()
		if err != nil {
			t.Fatal(err)
		}
		d := after["Tcp.InSegs"] - before["Tcp.InSegs"]
		if d == uint64(count) {
			return d
		}
		if d == last {
			stable++
		} else {
			stable = 0
		}
		if stable == 3 {
			return d
		}
		last = d
	}
	return last
}

func TestLoss(t *testing.T) {
	t.Parallel()
	const count = 2000
	n := newTestNet(t, WithLoss(0.5))
	// Binomial(2000, 0.5): mean 1000, sd 22; ±150 is a 6.7 sd margin.
	if got := sendSYNs(t, n, count); got < 850 || got > 1150 {
		t.Errorf("loss 0.5: %d of %d SYNs arrived, want about 1000", got, count)
	}
	if err := n.SetLoss(1); err != nil {
		t.Fatal(err)
	}
	if got := sendSYNs(t, n, 200); got != 0 {
		t.Errorf("loss 1: %d of 200 SYNs arrived, want 0", got)
	}
	// Negative control: without loss every SYN arrives.
	if err := n.SetLoss(0); err != nil {
		t.Fatal(err)
	}
	if got := sendSYNs(t, n, count); got != count {
		t.Errorf("loss 0: %d of %d SYNs arrived, want all", got, count)
	}
	for _, bad := range []float64{-1, 1.5} {
		if err := n.SetLoss(bad); err == nil {
			t.Errorf("SetLoss(%v) accepted", bad)
		}
	}
}
