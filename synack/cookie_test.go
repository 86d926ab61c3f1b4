package synack

import (
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"testing"

	"github.com/dchest/siphash"
)

var testKey = CookieKey{K0: 0x0706050403020100, K1: 0x0f0e0d0c0b0a0908}

func TestCookieIsSipHash(t *testing.T) {
	// The 12-byte IPv4 buffer and the 36-byte IPv6 buffer, built by hand.
	b4 := []byte{198, 18, 0, 1, 198, 18, 0, 2, 0x9c, 0x41, 0x01, 0xbb}
	if got, want := testKey.Cookie(prober4, target4, 40001, 443), uint32(siphash.Hash(testKey.K0, testKey.K1, b4)); got != want {
		t.Fatalf("IPv4 cookie %#08x, SipHash of the documented buffer %#08x", got, want)
	}
	mapped := netip.AddrFrom16(prober4.As16())
	if got, want := testKey.Cookie(mapped, target4, 40001, 443), testKey.Cookie(prober4, target4, 40001, 443); got != want {
		t.Fatalf("IPv4-mapped source gives cookie %#08x, plain IPv4 %#08x", got, want)
	}
	p, d := prober6.As16(), target6.As16()
	b6 := append(append(p[:], d[:]...), 0x9c, 0x41, 0x01, 0xbb)
	if got, want := testKey.Cookie(prober6, target6, 40001, 443), uint32(siphash.Hash(testKey.K0, testKey.K1, b6)); got != want {
		t.Fatalf("IPv6 cookie %#08x, SipHash of the documented buffer %#08x", got, want)
	}
	// Random messages of both shapes agree with dchest/siphash.
	rng := rand.New(rand.NewPCG(9, 10))
	for range 10000 {
		k := CookieKey{rng.Uint64(), rng.Uint64()}
		var a, b [16]byte
		binary.LittleEndian.PutUint64(a[:], rng.Uint64())
		binary.LittleEndian.PutUint64(a[8:], rng.Uint64())
		binary.LittleEndian.PutUint64(b[:], rng.Uint64())
		binary.LittleEndian.PutUint64(b[8:], rng.Uint64())
		sp, dp := uint16(rng.Uint32()), uint16(rng.Uint32())
		src4, dst4 := netip.AddrFrom4([4]byte(a[:])), netip.AddrFrom4([4]byte(b[:]))
		msg4 := binary.BigEndian.AppendUint16(binary.BigEndian.AppendUint16(append(a[:4:4], b[:4]...), sp), dp)
		if got, want := k.Cookie(src4, dst4, sp, dp), uint32(siphash.Hash(k.K0, k.K1, msg4)); got != want {
			t.Fatalf("Cookie(%v, %v, %d, %d) = %#08x, dchest/siphash %#08x", src4, dst4, sp, dp, got, want)
		}
		src6, dst6 := netip.AddrFrom16(a), netip.AddrFrom16(b)
		msg6 := binary.BigEndian.AppendUint16(binary.BigEndian.AppendUint16(append(a[:16:16], b[:]...), sp), dp)
		if got, want := k.Cookie(src6, dst6, sp, dp), uint32(siphash.Hash(k.K0, k.K1, msg6)); got != want && !src6.Is4In6() && !dst6.Is4In6() {
			t.Fatalf("Cookie(%v, %v, %d, %d) = %#08x, dchest/siphash %#08x", src6, dst6, sp, dp, got, want)
		}
		// Mixed families use the 16-byte forms (the IPv4 one mapped).
		if src6.Is4In6() {
			continue
		}
		mapped := dst4.As16()
		msgMixed := binary.BigEndian.AppendUint16(binary.BigEndian.AppendUint16(append(a[:16:16], mapped[:]...), sp), dp)
		if got, want := k.Cookie(src6, dst4, sp, dp), uint32(siphash.Hash(k.K0, k.K1, msgMixed)); got != want {
			t.Fatalf("Cookie(%v, %v, %d, %d) = %#08x, dchest/siphash %#08x", src6, dst4, sp, dp, got, want)
		}
	}
	// The SipHash-2-4 reference vector (Aumasson and Bernstein, appendix A):
	// key 00..0f, message 00..0e, hash a129ca6149be45e5.
	msg := make([]byte, 15)
	for i := range msg {
		msg[i] = byte(i)
	}
	if got := siphash.Hash(testKey.K0, testKey.K1, msg); got != 0xa129ca6149be45e5 {
		t.Fatalf("siphash reference vector: %#x", got)
	}
}

func TestCookieDependsOnEveryInput(t *testing.T) {
	base := testKey.Cookie(prober4, target4, 40001, 443)
	for name, c := range map[string]uint32{
		"src":     testKey.Cookie(netip.MustParseAddr("198.18.0.3"), target4, 40001, 443),
		"dst":     testKey.Cookie(prober4, netip.MustParseAddr("198.18.0.3"), 40001, 443),
		"srcPort": testKey.Cookie(prober4, target4, 40002, 443),
		"dstPort": testKey.Cookie(prober4, target4, 40001, 444),
		"swapped": testKey.Cookie(target4, prober4, 443, 40001),
		"key":     CookieKey{K0: 1, K1: 2}.Cookie(prober4, target4, 40001, 443),
	} {
		if c == base {
			t.Errorf("changing %s left the cookie at %#08x", name, c)
		}
	}
	k1, err := NewCookieKey()
	if err != nil {
		t.Fatal(err)
	}
	k2, _ := NewCookieKey()
	if k1 == k2 || k1 == (CookieKey{}) {
		t.Fatalf("NewCookieKey returned %v and %v", k1, k2)
	}
}

func TestValidate(t *testing.T) {
	for _, fam := range []struct{ prober, target, router netip.Addr }{{prober4, target4, router4}, {prober6, target6, router6}} {
		c := testKey.Cookie(fam.prober, fam.target, 40001, 443)
		synack := Reply{Kind: KindSYNACK, Src: fam.target, Dst: fam.prober, SrcPort: 443, DstPort: 40001, Seq: 99, Ack: c + 1, Flags: FlagSYN | FlagACK}
		rst := Reply{Kind: KindRST, Src: fam.target, Dst: fam.prober, SrcPort: 443, DstPort: 40001, Ack: c + 1, Flags: FlagRST | FlagACK}
		icmp := Reply{Kind: KindUnreachable, Src: fam.router, Dst: fam.prober, ICMPType: 3,
			OrigSrc: fam.prober, OrigDst: fam.target, OrigSrcPort: 40001, OrigDstPort: 443, OrigSeq: c}
		for _, r := range []Reply{synack, rst, icmp} {
			if !testKey.Validate(&r) {
				t.Errorf("%v %v: genuine reply does not validate", fam.target, r.Kind)
			}
			if (CookieKey{K0: 1}).Validate(&r) {
				t.Errorf("%v %v: validates under another key", fam.target, r.Kind)
			}
		}
		// Negative controls: each altered field makes it foreign.
		bad := map[string]Reply{}
		r := synack
		r.Ack = c
		bad["ack == cookie"] = r
		r = synack
		r.SrcPort = 444
		bad["other target port"] = r
		r = synack
		r.DstPort = 40002
		bad["other prober port"] = r
		r = synack
		r.Src = fam.router
		bad["other target"] = r
		r = rst
		r.Flags = FlagRST
		bad["rst without ack flag"] = r
		r = icmp
		r.OrigSeq = c + 1
		bad["icmp seq == cookie+1"] = r
		r = icmp
		r.OrigDstPort = 444
		bad["icmp other port"] = r
		r = synack
		r.Kind = 0
		bad["no kind"] = r
		for name, r := range bad {
			if testKey.Validate(&r) {
				t.Errorf("%v: %s validates", fam.target, name)
			}
		}
	}
}

func TestProbe(t *testing.T) {
	r := Reply{Kind: KindSYNACK, Src: target4, Dst: prober4, SrcPort: 443, DstPort: 40001}
	p, tg := r.Probe()
	if p != netip.AddrPortFrom(prober4, 40001) || tg != netip.AddrPortFrom(target4, 443) {
		t.Fatalf("SYN-ACK Probe = %v, %v", p, tg)
	}
	r = Reply{Kind: KindUnreachable, Src: router6, Dst: prober6, OrigSrc: prober6, OrigDst: target6, OrigSrcPort: 40001, OrigDstPort: 443}
	p, tg = r.Probe()
	if p != netip.AddrPortFrom(prober6, 40001) || tg != netip.AddrPortFrom(target6, 443) {
		t.Fatalf("unreachable Probe = %v, %v", p, tg)
	}
}
