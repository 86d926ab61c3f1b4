package pcapconv

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
)

// ToPcapng keeps every frame, its timestamp and the link type. Negative
// control: a file that is not a pcap is refused and no dst is written.
func TestToPcapng(t *testing.T) {
	dir := t.TempDir()
	src, dst := filepath.Join(dir, "in.pcap"), filepath.Join(dir, "out.pcapng")
	var buf bytes.Buffer
	w := pcapgo.NewWriter(&buf)
	if err := w.WriteFileHeader(65535, layers.LinkTypeRaw); err != nil {
		t.Fatal(err)
	}
	start := time.Unix(1_700_000_000, 123_456_000)
	frames := [][]byte{{0x45, 1, 2, 3}, {0x60, 4, 5, 6, 7}, {0x45}}
	for i, f := range frames {
		ci := gopacket.CaptureInfo{Timestamp: start.Add(time.Duration(i) * time.Millisecond), CaptureLength: len(f), Length: len(f) + i}
		if err := w.WritePacket(ci, f); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(src, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := ToPcapng(dst, src); err != nil {
		t.Fatal(err)
	}
	in, err := os.Open(dst)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	r, err := pcapgo.NewNgReader(in, pcapgo.DefaultNgReaderOptions)
	if err != nil {
		t.Fatal(err)
	}
	if r.LinkType() != layers.LinkTypeRaw {
		t.Errorf("link type %v, want %v", r.LinkType(), layers.LinkTypeRaw)
	}
	for i, f := range frames {
		data, ci, err := r.ReadPacketData()
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		if !bytes.Equal(data, f) || !ci.Timestamp.Equal(start.Add(time.Duration(i)*time.Millisecond)) || ci.Length != len(f)+i {
			t.Errorf("frame %d: %x at %v, length %d; want %x at %v, length %d", i, data, ci.Timestamp, ci.Length, f, start.Add(time.Duration(i)*time.Millisecond), len(f)+i)
		}
	}
	if _, _, err := r.ReadPacketData(); err == nil {
		t.Error("a frame more than the pcap holds")
	}

	notPcap, never := filepath.Join(dir, "not.pcap"), filepath.Join(dir, "never.pcapng")
	if err := os.WriteFile(notPcap, []byte("not a capture at all, just text"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := ToPcapng(never, notPcap); err == nil {
		t.Error("a text file was converted")
	}
	if _, err := os.Stat(never); !os.IsNotExist(err) {
		t.Errorf("dst of a refused conversion: %v, want it absent", err)
	}
}
