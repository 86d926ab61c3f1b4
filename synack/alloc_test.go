package synack

import (
	"testing"
)

// TestZeroAllocs proves the per-packet calls allocate nothing.
func TestZeroAllocs(t *testing.T) {
	t4, _ := NewTemplate(TemplateConfig{Src: prober4, Options: TCPOptions{MSS: 1460, SACKPermitted: true, Timestamps: true, WindowScale: 7}, IPID: IPIDRandom})
	t6, _ := NewTemplate(TemplateConfig{Src: prober6, Options: TCPOptions{MSS: 1440, WindowScale: -1}, IPID: IPIDCounter})
	buf := make([]byte, 128)
	replies := gopacketReplies(t)
	var r Reply
	var sink uint32
	var ok bool
	for name, f := range map[string]func(){
		"FillPacket v4":  func() { sink += uint32(t4.FillPacket(buf, target4, 40000, 443, 1)) },
		"FillPacket v6":  func() { sink += uint32(t6.FillPacket(buf, target6, 40000, 443, 1)) },
		"FillSegment v4": func() { sink += uint32(t4.FillSegment(buf, target4, 40000, 443, 1)) },
		"FillSegment v6": func() { sink += uint32(t6.FillSegment(buf, target6, 40000, 443, 1)) },
		"Cookie v4":      func() { sink += testKey.Cookie(prober4, target4, 40000, 443) },
		"Cookie v6":      func() { sink += testKey.Cookie(prober6, target6, 40000, 443) },
		"Checksum":       func() { sink += uint32(Checksum(buf)) },
		"Parse all": func() {
			for _, c := range replies {
				_ = Parse(c.frame, LinkEthernet, &r)
				ok = testKey.Validate(&r) || ok
			}
		},
		"Parse errors": func() {
			for _, c := range replies {
				_ = Parse(c.frame[:len(c.frame)/2], LinkEthernet, &r)
				_ = Parse(c.frame, LinkType(0), &r)
			}
		},
		"BuildRST": func() {
			_ = Parse(replies[0].frame, LinkEthernet, &r)
			n, _ := BuildRST(buf, &r)
			sink += uint32(n)
		},
	} {
		if a := testing.AllocsPerRun(100, f); a != 0 {
			t.Errorf("%s: %v allocations per run, want 0", name, a)
		}
	}
	// Positive control: the harness does see an allocation.
	var keep [][]byte
	if a := testing.AllocsPerRun(10, func() { keep = append(keep[:0], make([]byte, 64+len(keep))) }); a == 0 {
		t.Errorf("AllocsPerRun saw no allocation in a function that allocates")
	}
	_, _ = sink, ok
}
