package synack

import (
	"math/rand/v2"
	"testing"
)

// naiveChecksum is the RFC 1071 reference: 16-bit words summed in a wide
// integer, carries folded one at a time, complemented.
func naiveChecksum(b []byte) uint16 {
	var s uint64
	for i := 0; i+1 < len(b); i += 2 {
		s += uint64(b[i])<<8 | uint64(b[i+1])
	}
	if len(b)%2 == 1 {
		s += uint64(b[len(b)-1]) << 8
	}
	for s > 0xffff {
		s = s&0xffff + s>>16
	}
	return ^uint16(s)
}

func TestChecksumEveryLength(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	buf := make([]byte, 2000)
	for _, fill := range []string{"random", "ones", "zeros"} {
		for i := range buf {
			switch fill {
			case "random":
				buf[i] = byte(rng.Uint32())
			case "ones":
				buf[i] = 0xff
			case "zeros":
				buf[i] = 0
			}
		}
		for n := 0; n <= len(buf); n++ {
			if got, want := Checksum(buf[:n]), naiveChecksum(buf[:n]); got != want {
				t.Fatalf("%s bytes, length %d: Checksum = %#04x, reference %#04x", fill, n, got, want)
			}
		}
	}
}

func TestSumChains(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	buf := make([]byte, 1500)
	for i := range buf {
		buf[i] = byte(rng.Uint32())
	}
	for split := 0; split <= len(buf); split += 2 {
		got := Fold(Sum(buf[split:], Sum(buf[:split], 0)))
		if want := naiveChecksum(buf); got != want {
			t.Fatalf("split at %d: chained checksum %#04x, reference %#04x", split, got, want)
		}
	}
	// A large initial value must not overflow.
	if got, want := Fold(Sum([]byte{0xff, 0xff, 0xff, 0xff}, 0xffffffff)), naiveChecksum([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}); got != want {
		t.Fatalf("Sum with initial 0xffffffff: %#04x, reference %#04x", got, want)
	}
}

func TestUpdateChecksum(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for range 20000 {
		n := 4 + 2*rng.IntN(40)
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		if rng.IntN(4) == 0 { // edge values
			b[0], b[1] = 0, 0
		}
		check := naiveChecksum(b)
		off := 2 * rng.IntN(n/2-1)
		old32 := uint32(b[off])<<24 | uint32(b[off+1])<<16 | uint32(b[off+2])<<8 | uint32(b[off+3])
		new32 := rng.Uint32()
		switch rng.IntN(3) {
		case 0:
			new32 = 0
		case 1:
			new32 = 0xffffffff
		}
		old16 := uint16(old32 >> 16)
		b[off], b[off+1] = byte(new32>>24), byte(new32>>16)
		if got, want := UpdateChecksum16(check, old16, uint16(new32>>16)), naiveChecksum(b); !sameChecksum(b, got, want) {
			t.Fatalf("UpdateChecksum16(%#04x, %#04x, %#04x) = %#04x, recomputed %#04x", check, old16, uint16(new32>>16), got, want)
		}
		b[off+2], b[off+3] = byte(new32>>8), byte(new32)
		if got, want := UpdateChecksum32(check, old32, new32), naiveChecksum(b); !sameChecksum(b, got, want) {
			t.Fatalf("UpdateChecksum32(%#04x, %#08x, %#08x) = %#04x, recomputed %#04x", check, old32, new32, got, want)
		}
	}
}

// sameChecksum reports whether an updated checksum got equals the recomputed
// want. The one allowed difference is RFC 1624's: when every byte of b is zero
// a recomputation gives 0xffff while equation 3 gives 0x0000, the other
// one's-complement zero; both verify.
func sameChecksum(b []byte, got, want uint16) bool {
	if got == want {
		return true
	}
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return got == 0 && want == 0xffff
}

// Negative control: the reference and the update notice a changed byte.
func TestChecksumDetectsChange(t *testing.T) {
	b := []byte{0x45, 0, 0, 0x28, 0x12, 0x34, 0x40, 0, 0x40, 6, 0, 0, 198, 18, 0, 1, 198, 18, 0, 2}
	c := Checksum(b)
	b[15] ^= 1
	if Checksum(b) == c {
		t.Fatal("checksum unchanged after flipping a bit")
	}
	if UpdateChecksum16(c, 0x0001, 0x0001) != c {
		t.Fatal("update with old == new changed the checksum")
	}
}
