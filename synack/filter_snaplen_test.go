package synack

import (
	"errors"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
	"golang.org/x/net/bpf"
)

// snapCase is a real frame for the snap-length tests.
type snapCase struct {
	name  string
	frame []byte
	link  LinkType
}

// longestReplies are the largest replies Parse must decode: the ICMPv6 and
// ICMPv4 errors quoting a SYN with every option rawcheck can send (a
// 40-byte TCP header, quoted whole as routers do), SYN-ACKs with 40 bytes
// of TCP options, an IPv4 SYN-ACK with 40 bytes of IP options too, and
// RSTs carrying 1400 bytes of payload (the flood the snap length is for).
func longestReplies(t testing.TB) []snapCase {
	t.Helper()
	var out []snapCase
	add := func(name string, frame []byte) {
		out = append(out, snapCase{"eth " + name, frame, LinkEthernet}, snapCase{"ip " + name, frame[ethHeaderLen:], LinkIP})
	}
	opts := TCPOptions{MSS: 1460, SACKPermitted: true, Timestamps: true, TSval: 1, WindowScale: 7}
	tcpOpts := []layers.TCPOption{
		{OptionType: layers.TCPOptionKindMSS, OptionLength: 4, OptionData: []byte{0x05, 0xb4}},
		{OptionType: layers.TCPOptionKindSACKPermitted, OptionLength: 2},
		{OptionType: layers.TCPOptionKindTimestamps, OptionLength: 10, OptionData: make([]byte, 8)},
		{OptionType: layers.TCPOptionKindNop},
		{OptionType: layers.TCPOptionKindWindowScale, OptionLength: 3, OptionData: []byte{7}},
		{OptionType: layers.TCPOptionKindNop}, {OptionType: layers.TCPOptionKindNop}, {OptionType: layers.TCPOptionKindNop},
		{OptionType: layers.TCPOptionKindNop}, {OptionType: layers.TCPOptionKindNop}, {OptionType: layers.TCPOptionKindNop},
		{OptionType: layers.TCPOptionKindNop}, {OptionType: layers.TCPOptionKindNop}, {OptionType: layers.TCPOptionKindNop},
		{OptionType: layers.TCPOptionKindNop}, {OptionType: layers.TCPOptionKindNop}, {OptionType: layers.TCPOptionKindNop},
		{OptionType: layers.TCPOptionKindNop}, {OptionType: layers.TCPOptionKindNop}, {OptionType: layers.TCPOptionKindNop},
		{OptionType: layers.TCPOptionKindEndList},
	}
	for _, fam := range []struct{ prober, target, router netip.Addr }{{prober4, target4, router4}, {prober6, target6, router6}} {
		tmpl, err := NewTemplate(TemplateConfig{Src: fam.prober, Options: opts})
		if err != nil {
			t.Fatal(err)
		}
		syn := make([]byte, tmpl.PacketLen())
		tmpl.FillPacket(syn, fam.target, 40005, 443, 7)
		add("unreachable quoting a SYN with every option "+fam.target.String(), unreachable(t, true, fam.router, syn, 3))
		add("syn-ack with 40 bytes of options "+fam.target.String(),
			tcpReply(t, true, fam.target, fam.prober, 443, 40005, 1, 2, FlagSYN|FlagACK, tcpOpts))
		ip := ipLayer(fam.target, fam.prober, layers.IPProtocolTCP, 64)
		rst := &layers.TCP{SrcPort: 443, DstPort: 40005, Seq: 1, RST: true}
		_ = rst.SetNetworkLayerForChecksum(ip)
		add("rst with 1400 bytes of payload "+fam.target.String(),
			serialize(t, ethLayer(fam.target), ip.(gopacket.SerializableLayer), rst, gopacket.Payload(make([]byte, 1400))))
	}
	// IPv4 with the most options: 40 bytes in the IP header, 40 in TCP.
	ip := ipLayer(target4, prober4, layers.IPProtocolTCP, 64).(*layers.IPv4)
	ip.Options = []layers.IPv4Option{{OptionType: 7, OptionLength: 39, OptionData: append([]byte{4}, make([]byte, 36)...)}, {OptionType: 0, OptionLength: 1}}
	tcp := &layers.TCP{SrcPort: 443, DstPort: 40005, Seq: 1, Ack: 2, SYN: true, ACK: true, Options: tcpOpts}
	_ = tcp.SetNetworkLayerForChecksum(ip)
	add("syn-ack with 40 bytes of ip and of tcp options", serialize(t, ethLayer(target4), ip, tcp))
	return out
}

// goldenFrames returns every frame of the golden captures in
// ../testdata/pcaps (Ethernet).
func goldenFrames(t testing.TB) []snapCase {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join("..", "testdata", "pcaps", "*.pcap"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no golden captures: %v", err)
	}
	var out []snapCase
	for _, path := range paths {
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		rd, err := pcapgo.NewReader(f)
		if err != nil {
			f.Close()
			t.Fatalf("%s: %v", path, err)
		}
		if rd.LinkType() != layers.LinkTypeEthernet {
			f.Close()
			t.Fatalf("%s: link type %v, want Ethernet", path, rd.LinkType())
		}
		for i := 1; ; i++ {
			data, _, err := rd.ReadPacketData()
			if err == io.EOF {
				break
			}
			if err != nil {
				f.Close()
				t.Fatalf("%s: packet %d: %v", path, i, err)
			}
			out = append(out, snapCase{filepath.Base(path) + " packet " + strconv.Itoa(i), data, LinkEthernet})
		}
		f.Close()
	}
	return out
}

// TestFilterSnapLen runs the Filter programs (every port) in x/net/bpf's VM
// over real frames, the golden captures, FuzzParse's seed corpus, the
// filter table and the longest replies, and checks that the length they
// return for an accepted frame is FilterSnapLen, at most 128 bytes, and
// that Parse decodes every such frame cut to that length to the same
// Reply as the whole frame. Some frames are longer than the snap length,
// so the cut is real; and (negative control) the longest reply cut one
// byte short of what Parse reads is rejected as truncated.
func TestFilterSnapLen(t *testing.T) {
	if FilterSnapLen > 128 {
		t.Fatalf("FilterSnapLen is %d, want at most 128", FilterSnapLen)
	}
	vms := map[LinkType]*bpf.VM{}
	for _, link := range []LinkType{LinkEthernet, LinkIP} {
		prog, err := Filter(link, 0, 65535)
		if err != nil {
			t.Fatal(err)
		}
		if vms[link], err = bpf.NewVM(prog); err != nil {
			t.Fatal(err)
		}
	}
	var cases []snapCase
	cases = append(cases, goldenFrames(t)...)
	for _, s := range parseSeeds(t) {
		cases = append(cases, snapCase{"seed " + s.name, s.frame, LinkType(s.link)})
	}
	for _, c := range filterTable(t) {
		cases = append(cases, snapCase{"table " + c.name, c.frame, LinkEthernet})
	}
	cases = append(cases, longestReplies(t)...)

	decoded, cut := 0, 0
	for _, c := range cases {
		vm := vms[c.link]
		if vm == nil {
			continue // the seed with an unknown link type
		}
		n, err := vm.Run(c.frame)
		if err != nil {
			t.Fatalf("%s: vm.Run: %v", c.name, err)
		}
		var whole, short Reply
		if n == 0 || Parse(c.frame, c.link, &whole) != nil {
			continue
		}
		if n != FilterSnapLen {
			t.Errorf("%s: filter returned %d, want %d", c.name, n, FilterSnapLen)
		}
		kept := c.frame[:min(n, len(c.frame))]
		if len(kept) < len(c.frame) {
			cut++
		}
		if err := Parse(kept, c.link, &short); err != nil || short != whole {
			t.Errorf("%s: cut to %d of %d bytes: Parse %v\n got %+v\nwant %+v", c.name, len(kept), len(c.frame), err, short, whole)
		}
		decoded++
	}
	if decoded == 0 || cut == 0 {
		t.Fatalf("%d frames decoded, %d of them cut: the test checks nothing", decoded, cut)
	}
	t.Logf("%d frames, %d accepted and decoded, %d of them longer than %d bytes and cut", len(cases), decoded, cut, FilterSnapLen)

	// Negative control: what Parse reads of the longest reply, exactly.
	var longest snapCase
	for _, c := range longestReplies(t) {
		if c.name == "eth unreachable quoting a SYN with every option "+target6.String() {
			longest = c
		}
	}
	need := parseNeeds(t, longest.frame)
	if len(longest.frame) <= FilterSnapLen || need != 110 {
		t.Fatalf("%s: %d bytes, Parse reads %d: want a frame the snap length cuts, of which Parse reads 110", longest.name, len(longest.frame), need)
	}
	var r Reply
	if err := Parse(longest.frame[:need-1], LinkEthernet, &r); !errors.Is(err, ErrTruncated) {
		t.Errorf("%s cut to %d bytes: Parse %v, want ErrTruncated", longest.name, need-1, err)
	}
	if err := Parse(longest.frame[:need], LinkEthernet, &r); err != nil || r.Kind != KindUnreachable || r.OrigSrcPort != 40005 {
		t.Errorf("%s cut to %d bytes: Parse %v, %+v", longest.name, need, err, r)
	}
	t.Logf("%s: %d bytes, Parse reads %d", longest.name, len(longest.frame), need)
}
