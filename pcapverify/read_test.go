package pcapverify

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/gopacket/pcapgo"

	"github.com/rawprobe/rawprobe/internal/verify/pcapconv"
)

// dialAndHalfOpen writes one completed handshake (net.Dial's SYN, SYN-ACK,
// ACK, then FIN) and one half-open check.
func dialAndHalfOpen(b *pcapBuilder) {
	b.tcp(prober4, target4, fSYN, 100, 0).wait(40*time.Microsecond).
		tcp(target4, prober4, fSYNACK, 900, 0).wait(10*time.Microsecond).
		tcp(prober4, target4, fACK, 101, 0).wait(time.Millisecond).
		tcp(prober4, target4, fFINACK, 101, 0)
	half := netip4("198.18.0.1:81")
	b.tcp(prober4, half, fSYN, 200, 0).wait(40*time.Microsecond).
		tcp(half, prober4, fSYNACK, 901, 0).wait(30*time.Microsecond).
		tcp(prober4, half, fRST, 201, 0)
}

func TestCompletedHandshake(t *testing.T) {
	b := newPcap(t)
	dialAndHalfOpen(b)
	r := b.analyze()
	if r.CompletedFlows != 1 || len(r.Flows) != 2 || !r.Flows[0].Completed || r.Flows[1].Completed {
		t.Fatalf("report %v, flows %+v: want the first of two flows completed", r, r.Flows)
	}
	if r.Flows[1].Gap != 30*time.Microsecond {
		t.Errorf("half-open gap %v, want 30µs", r.Flows[1].Gap)
	}
	// Negative control: the golden capture of correct checks completes none.
	g, err := AnalyzeFile(goldenPath)
	if err != nil || g.CompletedFlows != 0 {
		t.Errorf("golden capture: %v, %v completed", err, g)
	}
}

// toPcapng rewrites the pcap at src as pcapng, frame for frame.
func toPcapng(t *testing.T, src string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "copy.pcapng")
	if err := pcapconv.ToPcapng(dst, src); err != nil {
		t.Fatal(err)
	}
	return dst
}

func TestPcapngSameVerdicts(t *testing.T) {
	b := newPcap(t)
	dialAndHalfOpen(b)
	pcap := b.analyze()
	ng, err := AnalyzeFile(toPcapng(t, b.path))
	if err != nil {
		t.Fatal(err)
	}
	if len(ng.Flows) != len(pcap.Flows) || ng.CompletedFlows != pcap.CompletedFlows || ng.Packets != pcap.Packets {
		t.Fatalf("pcapng %v\npcap   %v", ng, pcap)
	}
	for i := range ng.Flows {
		a, b := ng.Flows[i], pcap.Flows[i]
		if a.Prober != b.Prober || a.Target != b.Target || a.Completed != b.Completed || a.Gap != b.Gap || a.Reply != b.Reply {
			t.Errorf("flow %d: pcapng %+v, pcap %+v", i, a, b)
		}
	}
}

// TestCookedCapture reads a Linux cooked capture (v1 and v2), as tcpdump
// -i any writes.
func TestCookedCapture(t *testing.T) {
	b := newPcap(t)
	dialAndHalfOpen(b)
	want := b.analyze()
	for _, c := range []struct {
		name string
		lt   uint32
		hdr  func(ethType uint16) []byte
	}{
		{"sll", 113, func(et uint16) []byte {
			h := make([]byte, 16)
			binary.BigEndian.PutUint16(h[14:], et)
			return h
		}},
		{"sll2", 276, func(et uint16) []byte {
			h := make([]byte, 20)
			binary.BigEndian.PutUint16(h[0:], et)
			return h
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := Analyze(c.name, bytes.NewReader(recook(t, b.path, c.lt, c.hdr)))
			if err != nil {
				t.Fatal(err)
			}
			if len(got.Flows) != 2 || got.CompletedFlows != want.CompletedFlows || got.Packets != want.Packets {
				t.Errorf("%s: %v, want %v", c.name, got, want)
			}
		})
	}
}

// recook rewrites an Ethernet pcap with another link-layer header, the
// file header written by hand so the link type may exceed a byte.
func recook(t *testing.T, path string, lt uint32, hdr func(uint16) []byte) []byte {
	t.Helper()
	in, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	r, err := pcapgo.NewReader(in)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	fh := make([]byte, 24)
	binary.LittleEndian.PutUint32(fh[0:], 0xa1b2c3d4)
	binary.LittleEndian.PutUint16(fh[4:], 2)
	binary.LittleEndian.PutUint16(fh[6:], 4)
	binary.LittleEndian.PutUint32(fh[16:], 65535)
	binary.LittleEndian.PutUint32(fh[20:], lt)
	out.Write(fh)
	for {
		data, ci, err := r.ReadPacketData()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		frame := append(hdr(binary.BigEndian.Uint16(data[12:])), data[14:]...)
		ph := make([]byte, 16)
		binary.LittleEndian.PutUint32(ph[0:], uint32(ci.Timestamp.Unix()))
		binary.LittleEndian.PutUint32(ph[4:], uint32(ci.Timestamp.Nanosecond()/1000))
		binary.LittleEndian.PutUint32(ph[8:], uint32(len(frame)))
		binary.LittleEndian.PutUint32(ph[12:], uint32(len(frame)))
		out.Write(ph)
		out.Write(frame)
	}
	return out.Bytes()
}

func TestTruncatedCapture(t *testing.T) {
	b := newPcap(t)
	dialAndHalfOpen(b)
	b.analyze()
	whole, err := os.ReadFile(b.path)
	if err != nil {
		t.Fatal(err)
	}
	ngWhole, err := os.ReadFile(toPcapng(t, b.path))
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{"pcap": whole, "pcapng": ngWhole} {
		// Negative control: the whole file reads.
		if _, err := Analyze(name, bytes.NewReader(data)); err != nil {
			t.Fatalf("%s whole: %v", name, err)
		}
		for _, cut := range []int{len(data) - 5, len(data) / 2, 10, 2} {
			_, err := Analyze(name, bytes.NewReader(data[:cut]))
			if err == nil {
				t.Errorf("%s cut at %d of %d bytes: analysed", name, cut, len(data))
			} else if cut > 24 && name == "pcap" && !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Errorf("%s cut at %d: %v, want a truncation", name, cut, err)
			}
		}
	}
}
