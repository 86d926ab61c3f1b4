package synack

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var updateCorpus = flag.Bool("update", false, "rewrite the seed corpora under testdata/fuzz")

type parseSeed struct {
	name  string
	frame []byte
	link  uint8
}

// parseSeeds are FuzzParse's seeds: every gopacket-built reply as Ethernet
// and bare IP, and frames rejected for each documented reason.
func parseSeeds(t testing.TB) []parseSeed {
	var out []parseSeed
	clean := func(s string) string {
		return strings.NewReplacer("/", "-", ":", "_", ".", "_").Replace(s)
	}
	for _, c := range gopacketReplies(t) {
		out = append(out, parseSeed{"eth-" + clean(c.name), c.frame, uint8(LinkEthernet)},
			parseSeed{"ip-" + clean(c.name), c.frame[ethHeaderLen:], uint8(LinkIP)})
	}
	syn, _ := NewTemplate(TemplateConfig{Src: prober4, Options: TCPOptions{MSS: 1460, WindowScale: -1}})
	b := make([]byte, syn.PacketLen())
	syn.FillPacket(b, target4, 1, 2, 3)
	out = append(out,
		parseSeed{"ip-syn", b, uint8(LinkIP)},
		parseSeed{"ip-truncated", b[:30], uint8(LinkIP)},
		parseSeed{"eth-short", []byte{1, 2, 3}, uint8(LinkEthernet)},
		parseSeed{"eth-vlan-truncated", []byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x81, 0, 0, 5}, uint8(LinkEthernet)},
		parseSeed{"bad-link", b, 0})
	return out
}

var updateSeeds = []struct {
	name string
	data []byte
	off  uint16
	new  uint32
}{
	{"ipv4-header", []byte{0x45, 0, 0, 0x28, 0, 0, 0x40, 0, 0x40, 6, 0, 0, 198, 18, 0, 1, 198, 18, 0, 2}, 16, 0xcb007109},
	{"all-zero-result", []byte{0xf7, 0xc0, 0x04, 0x40}, 0, 0},
	{"all-ones", []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, 1, 0xffffffff},
}

var fillSeeds = []struct {
	name         string
	src, dst     []byte
	sport, dport uint16
	seq          uint32
	mss          uint16
	bits         uint8
}{
	{"ipv4-linux-options", []byte{198, 18, 0, 1}, []byte{198, 18, 0, 2}, 40000, 443, 1, 1460, 0x83},
	{"ipv6-extremes", prober6.AsSlice(), target6.AsSlice(), 65535, 65535, 0xffffffff, 0, 0},
	{"ipv4-mapped", func() []byte { a := prober4.As16(); return a[:] }(), target4.AsSlice(), 0, 0, 0, 0xffff, 0xff},
}

// corpusFile is a seed in the format `go test -fuzz` reads and writes.
func corpusFile(values ...any) string {
	var b strings.Builder
	b.WriteString("go test fuzz v1\n")
	for _, v := range values {
		switch v := v.(type) {
		case []byte:
			fmt.Fprintf(&b, "[]byte(%q)\n", v)
		default:
			fmt.Fprintf(&b, "%T(%d)\n", v, v)
		}
	}
	return b.String()
}

// TestFuzzCorpus checks that the seed corpora under testdata/fuzz are the
// seeds defined here, and rewrites them with -update.
func TestFuzzCorpus(t *testing.T) {
	want := map[string]string{}
	for _, s := range parseSeeds(t) {
		want[filepath.Join("FuzzParse", s.name)] = corpusFile(s.frame, s.link)
		want[filepath.Join("FuzzFilter", s.name)] = corpusFile(s.frame, s.link)
	}
	for _, s := range updateSeeds {
		want[filepath.Join("FuzzUpdateChecksum", s.name)] = corpusFile(s.data, s.off, s.new)
	}
	for _, s := range fillSeeds {
		want[filepath.Join("FuzzFillPacket", s.name)] = corpusFile(s.src, s.dst, s.sport, s.dport, s.seq, s.mss, s.bits)
	}
	for name, content := range want {
		path := filepath.Join("testdata", "fuzz", name)
		if *updateCorpus {
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Errorf("seed %s missing (go test -run TestFuzzCorpus -update ./synack writes it): %v", name, err)
		} else if string(got) != content {
			t.Errorf("seed %s differs from its definition; rerun with -update", name)
		}
	}
	t.Logf("%d seeds", len(want))
}
