package synack

import (
	"net/netip"
	"testing"
)

// A reply to a SYN made by Sequence gives back the probe's nonce, for
// SYN-ACKs, RSTs with ACK and quoted ICMP errors alike; a reply to the same
// addresses and ports made for another nonce gives back that other nonce,
// so a prober holding the current one tells the two apart.
func TestNonceRoundTrip(t *testing.T) {
	const nonce, other = 0x9e3779b9, 0x12345678
	for _, fam := range []struct{ prober, target, router netip.Addr }{{prober4, target4, router4}, {prober6, target6, router6}} {
		seq := testKey.Sequence(fam.prober, fam.target, 40001, 443, nonce)
		if c := testKey.Cookie(fam.prober, fam.target, 40001, 443); seq != c^nonce {
			t.Fatalf("%v: Sequence %#x, want cookie %#x XOR nonce", fam.target, seq, c)
		}
		if testKey.Sequence(fam.prober, fam.target, 40001, 443, 0) != testKey.Cookie(fam.prober, fam.target, 40001, 443) {
			t.Errorf("%v: nonce 0 is not the bare cookie", fam.target)
		}
		replies := []Reply{
			{Kind: KindSYNACK, Src: fam.target, Dst: fam.prober, SrcPort: 443, DstPort: 40001, Ack: seq + 1, Flags: FlagSYN | FlagACK},
			{Kind: KindRST, Src: fam.target, Dst: fam.prober, SrcPort: 443, DstPort: 40001, Ack: seq + 1, Flags: FlagRST | FlagACK},
			{Kind: KindUnreachable, Src: fam.router, Dst: fam.prober, ICMPType: 3,
				OrigSrc: fam.prober, OrigDst: fam.target, OrigSrcPort: 40001, OrigDstPort: 443, OrigSeq: seq},
		}
		for _, r := range replies {
			if n, ok := testKey.Nonce(&r); !ok || n != nonce {
				t.Errorf("%v %v: Nonce = %#x, %v; want %#x", fam.target, r.Kind, n, ok, uint32(nonce))
			}
			if testKey.Validate(&r) {
				t.Errorf("%v %v: a reply to a SYN with a nonce validates as a bare cookie", fam.target, r.Kind)
			}
			if n, ok := (CookieKey{K0: 1}).Nonce(&r); ok && n == nonce {
				t.Errorf("%v %v: another key recovers the nonce", fam.target, r.Kind)
			}
		}
		// The same reply recorded for another probe of the 4-tuple.
		old := replies[0]
		old.Ack = testKey.Sequence(fam.prober, fam.target, 40001, 443, other) + 1
		if n, _ := testKey.Nonce(&old); n == nonce {
			t.Errorf("%v: a reply to the nonce %#x gives the current nonce", fam.target, uint32(other))
		}
		// Negative control: a RST without ACK answers no SYN.
		r := replies[1]
		r.Flags = FlagRST
		if _, ok := testKey.Nonce(&r); ok {
			t.Errorf("%v: RST without ACK gives a nonce", fam.target)
		}
	}
}
