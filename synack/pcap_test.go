package synack

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
	"golang.org/x/net/bpf"
)

// documentedErrors are the reasons Parse may give for rejecting a packet.
var documentedErrors = []error{ErrTruncated, ErrNotIP, ErrMalformed, ErrFragment, ErrIPv6Extension, ErrNotReply}

// pcapSummary counts what a capture held.
type pcapSummary struct {
	packets int
	counts  map[string]int // by Kind or by rejection reason
}

func (s pcapSummary) String() string {
	keys := make([]string, 0, len(s.counts))
	for k := range s.counts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	fmt.Fprintf(&b, "%d packets", s.packets)
	for _, k := range keys {
		fmt.Fprintf(&b, ", %s: %d", k, s.counts[k])
	}
	return b.String()
}

// checkCapture reads every packet of the pcap or pcapng in r and checks that
// Parse decodes it or rejects it for a documented reason, that gopacket
// agrees on what Parse decodes, and that the Filter program accepts what
// Parse decodes.
func checkCapture(t testing.TB, r io.Reader, ng bool) (pcapSummary, error) {
	var (
		read func() ([]byte, int, int, error)
		lt   layers.LinkType
	)
	if ng {
		rd, err := pcapgo.NewNgReader(r, pcapgo.DefaultNgReaderOptions)
		if err != nil {
			return pcapSummary{}, err
		}
		lt = rd.LinkType()
		read = func() ([]byte, int, int, error) {
			d, ci, err := rd.ReadPacketData()
			return d, ci.CaptureLength, ci.Length, err
		}
	} else {
		rd, err := pcapgo.NewReader(r)
		if err != nil {
			return pcapSummary{}, err
		}
		lt = rd.LinkType()
		read = func() ([]byte, int, int, error) {
			d, ci, err := rd.ReadPacketData()
			return d, ci.CaptureLength, ci.Length, err
		}
	}
	// Map the capture's link type onto what AF_PACKET would deliver.
	var link LinkType
	var strip int
	switch lt {
	case layers.LinkTypeEthernet:
		link = LinkEthernet
	case layers.LinkTypeRaw, layers.LinkTypeIPv4, layers.LinkTypeIPv6, 12: // 12: raw IP on OpenBSD
		link = LinkIP
	case layers.LinkTypeLinuxSLL: // Linux cooked capture (tcpdump -i any)
		link, strip = LinkIP, 16
	case layers.LinkTypeNull, layers.LinkTypeLoop: // BSD loopback: 4-byte family
		link, strip = LinkIP, 4
	default:
		return pcapSummary{}, fmt.Errorf("link type %v (%d) has no AF_PACKET equivalent", lt, lt)
	}
	sum := pcapSummary{counts: map[string]int{}}
	var vm *bpf.VM
	if link == LinkEthernet && strip == 0 {
		prog, err := Filter(LinkEthernet, 0, 65535)
		if err != nil {
			return sum, err
		}
		if vm, err = bpf.NewVM(prog); err != nil {
			return sum, err
		}
	}
	var r0 Reply
	for {
		data, capLen, origLen, err := read()
		if err == io.EOF {
			return sum, nil
		}
		if err != nil {
			return sum, fmt.Errorf("packet %d: %w", sum.packets+1, err)
		}
		sum.packets++
		if len(data) < strip {
			sum.counts["shorter than the link header"]++
			continue
		}
		frame := data[strip:]
		err = Parse(frame, link, &r0)
		switch {
		case err == nil:
			sum.counts[r0.Kind.String()]++
			crossCheckGopacket(t, frame, link, &r0)
			if vm != nil && !(len(frame) >= 14 && binary.BigEndian.Uint16(frame[12:]) == etherTypeVLAN) {
				if n, _ := vm.Run(frame); n == 0 {
					return sum, fmt.Errorf("packet %d: Parse decodes %+v but Filter rejects it", sum.packets, r0)
				}
			}
		case !isDocumented(err):
			return sum, fmt.Errorf("packet %d: undocumented error %v", sum.packets, err)
		case errors.Is(err, ErrTruncated) && capLen < origLen:
			sum.counts["truncated by the capture's snap length"]++
		default:
			sum.counts[err.Error()]++
		}
	}
}

func isDocumented(err error) bool {
	for _, e := range documentedErrors {
		if err == e {
			return true
		}
	}
	return false
}

// TestPcaps: every packet in every capture under ../testdata/pcaps parses or
// is rejected for a documented reason.
func TestPcaps(t *testing.T) {
	var files []string
	for _, pattern := range []string{"*.pcap", "*.pcapng"} {
		m, err := filepath.Glob(filepath.Join("..", "testdata", "pcaps", pattern))
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, m...)
	}
	packets := 0
	for _, path := range files {
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		sum, err := checkCapture(t, f, strings.HasSuffix(path, ".pcapng"))
		f.Close()
		if err != nil {
			t.Errorf("%s: %v", path, err)
			continue
		}
		packets += sum.packets
		t.Logf("%s: %v", path, sum)
	}
	t.Logf("checked %d files under ../testdata/pcaps, %d packets", len(files), packets)
}

// TestGeneratedPcap writes a capture of known packets with pcapgo and checks
// it with the same code, so that the walker above is itself tested.
func TestGeneratedPcap(t *testing.T) {
	path := filepath.Join(t.TempDir(), "replies.pcap")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := pcapgo.NewWriter(f)
	if err := w.WriteFileHeader(65536, layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	want := map[string]int{}
	write := func(frame []byte, key string) {
		if err := w.WritePacket(captureInfo(len(frame)), frame); err != nil {
			t.Fatal(err)
		}
		want[key]++
	}
	for _, c := range gopacketReplies(t) {
		write(c.frame, c.want.Kind.String())
	}
	for _, c := range filterTable(t) {
		if !c.accept {
			var r Reply
			err := Parse(c.frame, LinkEthernet, &r)
			key := r.Kind.String()
			if err != nil {
				key = err.Error()
			}
			write(c.frame, key)
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	f, err = os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sum, err := checkCapture(t, f, false)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%v", sum)
	if fmt.Sprint(sum.counts) != fmt.Sprint(want) {
		t.Fatalf("capture counts %v, want %v", sum.counts, want)
	}
	if want["syn-ack"] == 0 || want[ErrNotReply.Error()] == 0 {
		t.Fatalf("generated capture lacks accepted or rejected packets: %v", want)
	}

	// Negative control: a link type with no AF_PACKET equivalent is an error.
	var buf strings.Builder
	w = pcapgo.NewWriter(&buf)
	if err := w.WriteFileHeader(65536, layers.LinkTypeIEEE802_11); err != nil {
		t.Fatal(err)
	}
	if _, err := checkCapture(t, strings.NewReader(buf.String()), false); err == nil {
		t.Fatal("a capture of 802.11 frames was accepted")
	}
}

func captureInfo(n int) gopacket.CaptureInfo {
	return gopacket.CaptureInfo{Timestamp: time.Unix(1700000000, 0), CaptureLength: n, Length: n}
}
