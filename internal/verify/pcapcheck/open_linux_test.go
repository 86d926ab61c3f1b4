package pcapcheck_test

import (
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/gopacket/pcapgo"
	"golang.org/x/sys/unix"

	"github.com/rawprobe/rawprobe/internal/verify/pcapcheck"
	"github.com/rawprobe/rawprobe/internal/verify/testnet"
)

// Open with a filter writes only the frames the filter keeps, cut at its
// snaplen (76: the SYN-ACK, with its MSS option, is longer), and counts them;
// a Start capture of the same traffic (the control) sees every flow.
func TestLiveOpenFilterSnaplen(t *testing.T) {
	n := testnet.New(t)
	n.Listen(t, "tcp", ":80")
	all := pcapcheck.Start(t, n.ProberLink, n.InProber)
	path := filepath.Join(t.TempDir(), "ipv6.pcap")
	const snaplen = 76
	onlyIPv6TCP := func(f []byte) bool {
		return len(f) >= 14+40 && f[12] == 0x86 && f[13] == 0xdd && f[14+6] == unix.IPPROTO_TCP
	}
	c, err := pcapcheck.Open(n.ProberLink, n.InProber, path, pcapcheck.WithSnaplen(snaplen), pcapcheck.WithFilter(onlyIPv6TCP))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Stop() })
	s := newRawSender(t, n)
	p4 := netip.AddrPortFrom(n.ProberAddr4, 33003)
	p6 := netip.AddrPortFrom(n.ProberAddr6, 33003)
	bindPort(t, n, p4.Addr(), p4.Port())
	bindPort(t, n, p6.Addr(), p6.Port())
	s.send(t, p4, netip.AddrPortFrom(n.Answering4.Addr().Next(), 80), 1000, 0, true, false)
	s.send(t, p6, netip.AddrPortFrom(n.Answering6.Addr().Next(), 80), 2000, 0, true, false)
	r, err := c.Report()
	if err != nil {
		t.Fatal(err)
	}
	t.Log(r)
	if err := r.Err(); err != nil {
		t.Fatal(err)
	}
	if len(r.Flows) != 1 || !r.Flows[0].Target.Addr().Is6() || r.Packets != 3 {
		t.Errorf("filtered capture: %v; want the IPv6 flow only, in 3 packets", r)
	}
	if rall := all.Analyze(); len(rall.Flows) != 2 || rall.SYNACKFlows != 2 {
		t.Errorf("unfiltered capture: %v; want 2 syn-ack flows", rall)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	pr, err := pcapgo.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	if pr.Snaplen() != snaplen {
		t.Errorf("file snaplen %d, want %d", pr.Snaplen(), snaplen)
	}
	cut := 0
	for {
		data, ci, err := pr.ReadPacketData()
		if err != nil {
			break
		}
		if len(data) > snaplen || ci.CaptureLength != len(data) || ci.Length < ci.CaptureLength {
			t.Errorf("frame of %d bytes (capture length %d, wire %d) in a %d-byte capture", len(data), ci.CaptureLength, ci.Length, snaplen)
		}
		if ci.Length > ci.CaptureLength {
			cut++
		}
	}
	if cut == 0 {
		t.Errorf("no frame cut at the snaplen of %d (the SYN-ACK is longer)", snaplen)
	}
}
