package main

import (
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"

	"github.com/rawprobe/rawprobe/internal/cli/services"
	"github.com/rawprobe/rawprobe/internal/verify/testnet"
)

// withoutNetRaw returns the wrapper that runs a command without
// CAP_NET_RAW: setpriv dropping it from the bounding set when we are root,
// nothing when we lack it already.
func withoutNetRaw(t *testing.T) []string {
	t.Helper()
	if os.Geteuid() != 0 {
		return nil
	}
	if _, err := exec.LookPath("setpriv"); err != nil {
		t.Skip("setpriv (util-linux) is needed to drop CAP_NET_RAW as root")
	}
	return []string{"setpriv", "--bounding-set=-net_raw", "--inh-caps=-net_raw"}
}

// TestLiveNoRawPrivilege: --engine raw without CAP_NET_RAW exits 3 naming
// the capability; the default engine choice falls back to connect and
// says so on stderr.
func TestLiveNoRawPrivilege(t *testing.T) {
	wrap := withoutNetRaw(t)
	ln, open, _ := loopbackPorts(t)
	code, stdout, stderr := runChild(t, wrap, "--engine", "raw", open.String())
	if code != 3 || !strings.Contains(stderr, "CAP_NET_RAW") || stdout != "" {
		t.Errorf("--engine raw without CAP_NET_RAW: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	code, stdout, stderr = runChild(t, wrap, open.String())
	if code != 0 || !strings.Contains(stderr, "using the connect engine") || !strings.Contains(stdout, " open ") {
		t.Errorf("default engine without CAP_NET_RAW: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	assertNoAccept(t, ln)
}

// TestLiveRawPcap runs the raw engine against loopback with --pcap and
// reads the capture back with gopacket: the SYN to each port, the SYN-ACK
// of the open one and the RST of the closed one are there, and the prober
// never sent a bare ACK or data.
func TestLiveRawPcap(t *testing.T) {
	testnet.RequirePrivileges(t)
	ln, open, closed := loopbackPorts(t)
	pcapPath := filepath.Join(t.TempDir(), "probe.pcap")
	code, stdout, stderr := runChild(t, nil, "--engine", "raw", "--own-rst", "--retries", "0", "--pcap", pcapPath, "--format", "jsonl", open.String(), closed.String())
	if code != 1 || !strings.Contains(stdout, `"port":`+itoa(open.Port())+`,"service":"`+services.Lookup(open.Port(), "tcp")+`","state":"open"`) || !strings.Contains(stdout, `"port":`+itoa(closed.Port())+`,"service":"`+services.Lookup(closed.Port(), "tcp")+`","state":"closed"`) {
		t.Fatalf("exit %d\n%s%s", code, stdout, stderr)
	}
	assertNoAccept(t, ln)

	type key struct {
		port  uint16
		flags string
	}
	seen := map[key]int{}
	eachPcapPacket(t, pcapPath, gopacket.Default, func(pkt gopacket.Packet) {
		tcp, _ := pkt.Layer(layers.LayerTypeTCP).(*layers.TCP)
		if tcp == nil {
			t.Errorf("not TCP: %v", pkt)
			return
		}
		toTarget := uint16(tcp.DstPort) == open.Port() || uint16(tcp.DstPort) == closed.Port()
		port, flags := uint16(tcp.SrcPort), ""
		if toTarget {
			port = uint16(tcp.DstPort)
			flags = "out:"
		}
		for _, fl := range []struct {
			on   bool
			name string
		}{{tcp.SYN, "S"}, {tcp.ACK, "A"}, {tcp.RST, "R"}} {
			if fl.on {
				flags += fl.name
			}
		}
		seen[key{port, flags}]++
		if toTarget && (len(tcp.Payload) > 0 || (tcp.ACK && !tcp.RST && !tcp.SYN)) {
			t.Errorf("prober sent a bare ACK or data: %v", pkt)
		}
	})
	for _, want := range []key{{open.Port(), "out:S"}, {open.Port(), "SA"}, {closed.Port(), "out:S"}} {
		if seen[want] == 0 {
			t.Errorf("capture lacks %+v; has %v", want, seen)
		}
	}
	if seen[key{closed.Port(), "AR"}]+seen[key{closed.Port(), "R"}] == 0 {
		t.Errorf("capture lacks the closed port's RST; has %v", seen)
	}
	if n := seen[key{open.Port(), "out:R"}] + seen[key{open.Port(), "out:AR"}]; n == 0 {
		t.Errorf("capture lacks our RST to the open port; has %v", seen)
	}
}

// eachPcapPacket calls fn with each packet of the pcap file at path,
// decoded with opts by the file's link type, in file order. A file that
// does not open or parse to its end fails t.
func eachPcapPacket(t *testing.T, path string, opts gopacket.DecodeOptions, fn func(gopacket.Packet)) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := pcapgo.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	for n := 0; ; n++ {
		data, _, err := r.ReadPacketData()
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatalf("%s: after %d packets: %v", path, n, err)
		}
		fn(gopacket.NewPacket(data, r.LinkType(), opts))
	}
}
