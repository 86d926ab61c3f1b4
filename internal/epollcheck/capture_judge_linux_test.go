package epollcheck

import (
	"bytes"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"

	"github.com/rawprobe/rawprobe/pcapverify"
)

// judgePcap analyses an IPv4 capture of the given flows, each a list of
// segments "p:FLAGS" (prober to target) or "t:FLAGS" (target to prober),
// the i-th flow from source port 40000+i.
func judgePcap(t *testing.T, flows ...[]string) *pcapverify.Report {
	t.Helper()
	var buf bytes.Buffer
	w := pcapgo.NewWriter(&buf)
	if err := w.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1700000000, 0)
	target := netip.MustParseAddrPort("198.18.0.1:80")
	for i, segs := range flows {
		prober := netip.AddrPortFrom(netip.MustParseAddr("198.19.254.1"), uint16(40000+i))
		for _, s := range segs {
			src, dst := prober, target
			if s[0] == 't' {
				src, dst = target, prober
			}
			tcp := &layers.TCP{SrcPort: layers.TCPPort(src.Port()), DstPort: layers.TCPPort(dst.Port()), Seq: 1, Window: 65535}
			for _, c := range s[2:] {
				switch c {
				case 'S':
					tcp.SYN = true
				case 'A':
					tcp.ACK, tcp.Ack = true, 2
				case 'R':
					tcp.RST = true
				}
			}
			ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: src.Addr().AsSlice(), DstIP: dst.Addr().AsSlice()}
			tcp.SetNetworkLayerForChecksum(ip)
			eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}, EthernetType: layers.EthernetTypeIPv4}
			sb := gopacket.NewSerializeBuffer()
			if err := gopacket.SerializeLayers(sb, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, eth, ip, tcp); err != nil {
				t.Fatal(err)
			}
			now = now.Add(time.Millisecond)
			data := sb.Bytes()
			if err := w.WritePacket(gopacket.CaptureInfo{Timestamp: now, CaptureLength: len(data), Length: len(data)}, data); err != nil {
				t.Fatal(err)
			}
		}
	}
	rep, err := pcapverify.Analyze("synthetic", &buf)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// TestJudgeCaptureLateClose checks that a handshake a delayed ACK completed
// is tolerated only when the benchmark's count of completed handshakes
// matches, never in a test (lateClose 0), and that other faults still fail.
func TestJudgeCaptureLateClose(t *testing.T) {
	good := []string{"p:S", "t:SA", "p:R"}
	lateACK := []string{"p:S", "t:SA", "p:A", "p:R"}
	neverReset := []string{"p:S", "t:SA", "p:A"}
	for _, c := range []struct {
		name      string
		flows     [][]string
		lateClose int
		ok        bool
	}{
		{"clean", [][]string{good, good}, 0, true},
		{"late close counted", [][]string{good, lateACK}, 1, true},
		{"late close in a test", [][]string{good, lateACK}, 0, false},
		{"count disagrees", [][]string{lateACK, lateACK}, 1, false},
		{"completed, never reset", [][]string{good, neverReset}, 1, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := judgeCapture(judgePcap(t, c.flows...), c.lateClose)
			if (err == nil) != c.ok {
				t.Errorf("judgeCapture(lateClose %d) = %v, want ok %v", c.lateClose, err, c.ok)
			}
		})
	}
}
