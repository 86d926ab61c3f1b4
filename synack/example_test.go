package synack_test

import (
	"encoding/hex"
	"fmt"
	"net/netip"

	"github.com/rawprobe/rawprobe/synack"
)

// Build the SYN of one probe: the sequence number is the cookie of its
// addresses and ports, so the reply can be matched without state.
func ExampleTemplate_FillPacket() {
	prober := netip.MustParseAddr("198.18.0.1")
	target := netip.MustParseAddr("198.18.0.2")
	tmpl, err := synack.NewTemplate(synack.TemplateConfig{
		Src:     prober,
		Options: synack.TCPOptions{MSS: 1460, SACKPermitted: true, WindowScale: 7},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	key := synack.CookieKey{K0: 1, K1: 2} // use NewCookieKey in real code
	seq := key.Cookie(prober, target, 40000, 443)
	buf := make([]byte, tmpl.PacketLen())
	n := tmpl.FillPacket(buf, target, 40000, 443, seq)
	fmt.Printf("%d bytes, seq %#08x\n", n, seq)
	fmt.Println("ip: ", hex.EncodeToString(buf[:20]))
	fmt.Println("tcp:", hex.EncodeToString(buf[20:n]))
	// Output:
	// 52 bytes, seq 0xe95a3838
	// ip:  45000034000040004006ae9cc6120001c6120002
	// tcp: 9c4001bbe95a3838000000008002faf0286a0000020405b40101040201030307
}

// Parse a SYN-ACK as AF_PACKET delivers it on the loopback device (an
// Ethernet header with zero MAC addresses), check it answers one of our
// SYNs, and build the RST that tears it down.
func ExampleParse() {
	frame, _ := hex.DecodeString("000000000000" + "000000000000" + "0800" + // Ethernet
		"4500002c000040004006aea4c6120002c6120001" + // IPv4 198.18.0.2 > 198.18.0.1
		"01bb9c40000003e8e95a383960127210d6660000020405b4") // TCP 443 > 40000 SYN-ACK, MSS 1460
	var r synack.Reply
	if err := synack.Parse(frame, synack.LinkEthernet, &r); err != nil {
		fmt.Println(err)
		return
	}
	prober, target := r.Probe()
	key := synack.CookieKey{K0: 1, K1: 2}
	fmt.Println(r.Kind, "from", target, "to", prober, "ttl", r.TTL)
	fmt.Println("ours:", key.Validate(&r))

	rst := make([]byte, synack.RSTLenIPv6)
	n, err := synack.BuildRST(rst, &r)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("rst:", hex.EncodeToString(rst[20:n]))

	// A frame that is not a reply is rejected with a documented error.
	frame[14+20+13] = 0x10 // flags: ACK only
	fmt.Println(synack.Parse(frame, synack.LinkEthernet, &r))
	// Output:
	// syn-ack from 198.18.0.2:443 to 198.18.0.1:40000 ttl 64
	// ours: true
	// rst: 9c4001bbe95a3839000000005004000064290000
	// synack: not a reply to a SYN
}

// The classic BPF program a listener attaches to a SOCK_DGRAM AF_PACKET
// socket to receive replies to SYNs sent from ports 40000 to 40999.
func ExampleFilter() {
	prog, err := synack.Filter(synack.LinkIP, 40000, 40999)
	if err != nil {
		fmt.Println(err)
		return
	}
	for i, ins := range prog {
		fmt.Printf("%02d %v\n", i, ins)
	}
	// Output:
	// 00 ldb [0]
	// 01 rsh #4
	// 02 jeq #4,1
	// 03 jeq #6,26,44
	// 04 ldh [6]
	// 05 jset #16383,42
	// 06 ldb [9]
	// 07 jneq #6,8
	// 08 ldx 4*([0]&0xf)
	// 09 ldh [x + 2]
	// 10 jlt #40000,37
	// 11 jgt #40999,36
	// 12 ldb [x + 13]
	// 13 jset #4,33
	// 14 and #18
	// 15 jeq #18,31,32
	// 16 jneq #1,31
	// 17 ldx 4*([0]&0xf)
	// 18 ldb [x + 0]
	// 19 jneq #3,28
	// 20 ldb [x + 17]
	// 21 jneq #6,26
	// 22 ldb [x + 8]
	// 23 and #15
	// 24 lsh #2
	// 25 add x
	// 26 tax
	// 27 ldh [x + 8]
	// 28 jlt #40000,19
	// 29 jgt #40999,18,17
	// 30 ldb [6]
	// 31 jneq #6,7
	// 32 ldh [42]
	// 33 jlt #40000,14
	// 34 jgt #40999,13
	// 35 ldb [53]
	// 36 jset #4,10
	// 37 and #18
	// 38 jeq #18,8,9
	// 39 jneq #58,8
	// 40 ldb [40]
	// 41 jneq #1,6
	// 42 ldb [54]
	// 43 jneq #6,4
	// 44 ldh [88]
	// 45 jlt #40000,2
	// 46 jgt #40999,1
	// 47 ret #128
	// 48 ret #0
}

// Read back the SYN a Template wrote, as a sender does with a packet the
// kernel refused, to find the probe it belongs to.
func ExampleParseSYN() {
	tmpl, err := synack.NewTemplate(synack.TemplateConfig{Src: netip.MustParseAddr("198.18.0.1")})
	if err != nil {
		fmt.Println(err)
		return
	}
	buf := make([]byte, tmpl.PacketLen())
	n := tmpl.FillPacket(buf, netip.MustParseAddr("198.18.0.255"), 40000, 443, 0x1234)
	syn, ok := synack.ParseSYN(buf[:n])
	fmt.Println(ok, syn.Src, "->", syn.Dst, syn.SrcPort, "->", syn.DstPort, "seq", syn.Seq)
	// Output:
	// true 198.18.0.1 -> 198.18.0.255 40000 -> 443 seq 4660
}
