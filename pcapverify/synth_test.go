package pcapverify

import (
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
)

// Addresses of the synthetic captures.
var (
	prober4 = netip.MustParseAddrPort("198.19.254.1:40000")
	target4 = netip.MustParseAddrPort("198.18.0.1:80")
	prober6 = netip.MustParseAddrPort("[2001:db8:ffff::1]:40001")
	target6 = netip.MustParseAddrPort("[2001:db8:a::1]:443")
)

// TCP flag sets of the synthetic segments.
const (
	fSYN    = "S"
	fSYNACK = "SA"
	fRST    = "R"
	fRSTACK = "RA"
	fACK    = "A"
	fFINACK = "FA"
)

// pcapBuilder writes a synthetic Ethernet capture, one frame at a time,
// with timestamps advancing by a step the test chooses.
type pcapBuilder struct {
	t    testing.TB
	f    *os.File
	w    *pcapgo.Writer
	now  time.Time
	path string
}

func newPcap(t testing.TB) *pcapBuilder {
	t.Helper()
	return newPcapAt(t, filepath.Join(t.TempDir(), "synthetic.pcap"))
}

func newPcapAt(t testing.TB, path string) *pcapBuilder {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := pcapgo.NewWriterNanos(f)
	if err := w.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	return &pcapBuilder{t: t, f: f, w: w, now: time.Unix(1700000000, 0), path: path}
}

// wait advances the capture clock.
func (b *pcapBuilder) wait(d time.Duration) *pcapBuilder { b.now = b.now.Add(d); return b }

// tcp adds a segment from src to dst with the given flags ("S", "SA", "R",
// "RA", "A", "FA", "PA"), sequence number and payload length.
func (b *pcapBuilder) tcp(src, dst netip.AddrPort, flags string, seq uint32, payload int) *pcapBuilder {
	b.t.Helper()
	tcp := &layers.TCP{SrcPort: layers.TCPPort(src.Port()), DstPort: layers.TCPPort(dst.Port()), Seq: seq, Window: 65535}
	for _, c := range flags {
		switch c {
		case 'S':
			tcp.SYN = true
		case 'A':
			tcp.ACK = true
		case 'R':
			tcp.RST = true
		case 'F':
			tcp.FIN = true
		case 'P':
			tcp.PSH = true
		}
	}
	if tcp.ACK {
		tcp.Ack = 1
	}
	ip, eth := b.ip(src.Addr(), dst.Addr(), layers.IPProtocolTCP)
	tcp.SetNetworkLayerForChecksum(ip.(gopacket.NetworkLayer))
	b.write(eth, ip, tcp, gopacket.Payload(make([]byte, payload)))
	return b
}

// icmp adds an ICMP (IPv4) or ICMPv6 destination unreachable from "from"
// quoting a SYN from prober to target.
func (b *pcapBuilder) icmp(from netip.Addr, prober, target netip.AddrPort) *pcapBuilder {
	b.t.Helper()
	quoted := serialize(b.t, b.quotedSYN(prober, target)...)
	if from.Is4() {
		ip, eth := b.ip(from, prober.Addr(), layers.IPProtocolICMPv4)
		b.write(eth, ip, &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(3, 1)}, gopacket.Payload(quoted))
		return b
	}
	ip, eth := b.ip(from, prober.Addr(), layers.IPProtocolICMPv6)
	icmp := &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(1, 3)}
	icmp.SetNetworkLayerForChecksum(ip.(gopacket.NetworkLayer))
	b.write(eth, ip, icmp, gopacket.Payload(append(make([]byte, 4), quoted...)))
	return b
}

// quotedSYN returns the IP and TCP layers of a SYN, as an ICMP error
// quotes them.
func (b *pcapBuilder) quotedSYN(src, dst netip.AddrPort) []gopacket.SerializableLayer {
	ip, _ := b.ip(src.Addr(), dst.Addr(), layers.IPProtocolTCP)
	tcp := &layers.TCP{SrcPort: layers.TCPPort(src.Port()), DstPort: layers.TCPPort(dst.Port()), SYN: true, Seq: 1}
	tcp.SetNetworkLayerForChecksum(ip.(gopacket.NetworkLayer))
	return []gopacket.SerializableLayer{ip, tcp}
}

// ip returns an IPv4 or IPv6 header and the Ethernet header for it.
func (b *pcapBuilder) ip(src, dst netip.Addr, proto layers.IPProtocol) (gopacket.SerializableLayer, *layers.Ethernet) {
	eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}}
	if src.Is4() {
		eth.EthernetType = layers.EthernetTypeIPv4
		return &layers.IPv4{Version: 4, TTL: 64, Protocol: proto, SrcIP: src.AsSlice(), DstIP: dst.AsSlice()}, eth
	}
	eth.EthernetType = layers.EthernetTypeIPv6
	return &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: proto, SrcIP: src.AsSlice(), DstIP: dst.AsSlice()}, eth
}

func (b *pcapBuilder) write(ls ...gopacket.SerializableLayer) {
	b.t.Helper()
	data := serialize(b.t, ls...)
	if err := b.w.WritePacket(gopacket.CaptureInfo{Timestamp: b.now, CaptureLength: len(data), Length: len(data)}, data); err != nil {
		b.t.Fatal(err)
	}
}

func serialize(t testing.TB, ls ...gopacket.SerializableLayer) []byte {
	t.Helper()
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// analyze closes the capture and analyses it.
func (b *pcapBuilder) analyze() *Report {
	b.t.Helper()
	if err := b.f.Close(); err != nil {
		b.t.Fatal(err)
	}
	r, err := AnalyzeFile(b.path)
	if err != nil {
		b.t.Fatal(err)
	}
	return r
}

// Short names for gopacket types the tests spell often.
type (
	gopacketLayer = gopacket.SerializableLayer
	networkLayer  = gopacket.NetworkLayer
	payload       = gopacket.Payload
)

func captureInfo(ts time.Time, captured, wire int) gopacket.CaptureInfo {
	return gopacket.CaptureInfo{Timestamp: ts, CaptureLength: captured, Length: wire}
}

func netip4(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }

func itoa(i int) string { return strconv.Itoa(i) }
