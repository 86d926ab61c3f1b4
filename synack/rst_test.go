package synack

import (
	"errors"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

// TestBuildRST: the RST answering a parsed SYN-ACK decodes in gopacket with
// the documented fields and valid checksums, and parses back as a RST.
func TestBuildRST(t *testing.T) {
	for _, c := range gopacketReplies(t) {
		if c.want.Kind != KindSYNACK {
			continue
		}
		var r Reply
		if err := Parse(c.frame, LinkEthernet, &r); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, RSTLenIPv6)
		n, err := BuildRST(buf, &r)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		pkt := buf[:n]
		first, wantLen := layers.LayerTypeIPv4, RSTLenIPv4
		if r.Src.Is6() {
			first, wantLen = layers.LayerTypeIPv6, RSTLenIPv6
		}
		if n != wantLen {
			t.Fatalf("%s: RST length %d, want %d", c.name, n, wantLen)
		}
		p := gopacket.NewPacket(pkt, first, gopacket.Default)
		tcp, _ := p.Layer(layers.LayerTypeTCP).(*layers.TCP)
		if p.ErrorLayer() != nil || tcp == nil {
			t.Fatalf("%s: gopacket cannot decode RST %x", c.name, pkt)
		}
		if tcp.SrcPort != layers.TCPPort(r.DstPort) || tcp.DstPort != layers.TCPPort(r.SrcPort) || tcp.Seq != r.Ack || tcp.Ack != 0 ||
			!tcp.RST || tcp.ACK || tcp.SYN || tcp.FIN || tcp.Window != 0 {
			t.Fatalf("%s: RST fields wrong: %+v", c.name, tcp)
		}
		if err := tcp.SetNetworkLayerForChecksum(p.NetworkLayer()); err != nil {
			t.Fatal(err)
		}
		if v, err := tcp.ComputeChecksum(); err != nil || v != 0 {
			t.Fatalf("%s: RST TCP checksum does not verify in gopacket: %#04x %v", c.name, v, err)
		}
		if ip, ok := p.NetworkLayer().(*layers.IPv4); ok && Checksum(pkt[:ipv4MinLen]) != 0 {
			t.Fatalf("%s: IPv4 header checksum %#04x does not verify", c.name, ip.Checksum)
		}
		var back Reply
		if err := Parse(pkt, LinkIP, &back); err != nil || back.Kind != KindRST || back.Src != r.Dst || back.Dst != r.Src || back.Seq != r.Ack {
			t.Fatalf("%s: RST parses as %+v, %v", c.name, back, err)
		}
		// Negative control: a flipped bit breaks the checksum gopacket checks.
		pkt[n-1] ^= 0x10
		p = gopacket.NewPacket(pkt, first, gopacket.Default)
		tcp = p.Layer(layers.LayerTypeTCP).(*layers.TCP)
		_ = tcp.SetNetworkLayerForChecksum(p.NetworkLayer())
		if v, _ := tcp.ComputeChecksum(); v == 0 {
			t.Fatalf("%s: corrupted RST still verifies", c.name)
		}
	}
}

func TestBuildRSTErrors(t *testing.T) {
	ok := Reply{Kind: KindSYNACK, Src: target4, Dst: prober4, SrcPort: 80, DstPort: 40000, Ack: 5}
	buf := make([]byte, 100)
	for name, c := range map[string]struct {
		r   Reply
		buf []byte
	}{
		"rst":          {Reply{Kind: KindRST, Src: target4, Dst: prober4}, buf},
		"unreachable":  {Reply{Kind: KindUnreachable, Src: target4, Dst: prober4}, buf},
		"mixed family": {Reply{Kind: KindSYNACK, Src: target6, Dst: prober4}, buf},
		"no address":   {Reply{Kind: KindSYNACK}, buf},
		"short buffer": {ok, buf[:RSTLenIPv4-1]},
	} {
		buf[0] = 0xaa
		if n, err := BuildRST(c.buf, &c.r); err == nil || n != 0 || !errors.Is(err, ErrBuildRST) {
			t.Errorf("%s: BuildRST = %d, %v; want an ErrBuildRST error", name, n, err)
		} else {
			t.Logf("%s: %v", name, err)
		}
		if buf[0] != 0xaa {
			t.Errorf("%s: BuildRST wrote into the buffer before failing", name)
		}
	}
	if n, err := BuildRST(buf[:RSTLenIPv4], &ok); err != nil || n != RSTLenIPv4 {
		t.Fatalf("exact-size buffer: %d, %v", n, err)
	}
}
