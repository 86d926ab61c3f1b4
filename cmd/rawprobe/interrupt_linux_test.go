package main

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/rawprobe/rawprobe/internal/verify/netlab"
	"github.com/rawprobe/rawprobe/internal/verify/testnet"
)

// proberInterrupt runs the command in the prober namespace and sends it
// sig once the file grow has grown by more than grow bytes since the
// start (never if sig is nil). It returns the exit status and stderr.
func proberInterrupt(t *testing.T, n *testnet.Net, grow string, by int64, sig os.Signal, args ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := n.ProberCmd(ctx, os.Args[0], args...)
	cmd.Env = append(os.Environ(), envRunMain+"=1")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	var size0 int64
	if fi, err := os.Stat(grow); err == nil {
		size0 = fi.Size()
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for sig != nil {
		select {
		case err := <-done:
			return exitOf(t, cmd, err), stderr.String()
		case <-tick.C:
		}
		if fi, err := os.Stat(grow); err == nil && fi.Size()-size0 > by {
			cmd.Process.Signal(sig)
			break
		}
	}
	return exitOf(t, cmd, <-done), stderr.String()
}

func exitOf(t *testing.T, cmd *exec.Cmd, err error) int {
	t.Helper()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatal(err)
	}
	return cmd.ProcessState.ExitCode()
}

// TestLiveInterruptResume scans 65,536 targets in the test network (255
// answering addresses and a silent one × 256 ports, one port listening) with the raw engine, -o and
// --pcap, interrupts it at random points with SIGINT and SIGTERM, resumes
// it each time with --resume, and lets the last resume finish: each
// interrupted run exits 130 or 143 with its resume line; the -o file the
// runs appended to holds 65,536 lines, every target once; the pcap they
// appended to parses whole and holds a SYN to every target.
func TestLiveInterruptResume(t *testing.T) {
	testnet.RequirePrivileges(t)
	n := testnet.New(t)
	n.Listen(t, "tcp", ":80")
	dir := t.TempDir()
	out := filepath.Join(dir, "scan.jsonl")
	pcapPath := filepath.Join(dir, "scan.pcap")
	state := out + ".resume"
	// 255 answering addresses and a silent one: the silent targets in
	// flight at a stop outlast the drain and are left for the resume.
	answering := netlab.Nth(n.Answering4, 256).String() + "-" + netlab.Nth(n.Answering4, 510).String()
	silent := netlab.Nth(n.Silent4, 1).String()
	args := []string{"--engine", "raw", "--rate", "200000", "--timeout", "300ms", "--retries", "1", "--format", "jsonl", "-o", out, "--pcap", pcapPath, "-p", "1-256", answering, silent}
	const total = 65536
	const lineBytes = 180 // a JSONL line is longer: the thresholds below stay inside the scan
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 0))
	sigs := []os.Signal{os.Interrupt, syscall.SIGTERM, os.Interrupt}
	interrupted := 0
	run := args
	for i := 0; i <= len(sigs); i++ {
		var sig os.Signal
		var by int64
		if i < len(sigs) {
			sig = sigs[i]
			by = int64(rng.IntN(total/5)+total/20) * lineBytes
		}
		code, stderr := proberInterrupt(t, n, out, by, sig, run...)
		switch {
		case code == exitInterrupted(sig) && sig != nil:
			interrupted++
			if !strings.Contains(stderr, "resume with: rawprobe --resume "+state) || !strings.Contains(stderr, "seed ") {
				t.Fatalf("run %d: no resume line:\n%s", i, stderr)
			}
		case code == exitAllOpen || code == exitNotAllOpen:
			if _, err := os.Stat(state); !os.IsNotExist(err) {
				t.Fatalf("run %d completed, but its state stays: %v", i, err)
			}
			i = len(sigs) // done
		default:
			t.Fatalf("run %d (signal %v): exit %d\n%s", i, sig, code, stderr)
		}
		t.Logf("run %d: signal %v after %d bytes: exit %d; %s", i, sig, by, code, strings.TrimSpace(stderr))
		run = []string{"--resume", state}
	}
	if interrupted < 2 {
		t.Errorf("only %d runs were interrupted before they ended: the proof needs the scan interrupted", interrupted)
	}
	checkEachOnce(t, readJSONLTargets(t, out), total)

	syns := map[string]bool{}
	eachPcapPacket(t, pcapPath, gopacket.NoCopy, func(pkt gopacket.Packet) {
		ip, _ := pkt.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
		tcp, _ := pkt.Layer(layers.LayerTypeTCP).(*layers.TCP)
		if ip != nil && tcp != nil && tcp.SYN && !tcp.ACK {
			syns[netip.AddrPortFrom(netip.AddrFrom4([4]byte(ip.DstIP.To4())), uint16(tcp.DstPort)).String()] = true
		}
	})
	if len(syns) != total {
		t.Errorf("pcap: SYNs to %d targets, want %d", len(syns), total)
	}
}

// TestLiveOutputSafety runs the real command: --engine raw without
// CAP_NET_RAW (exit 3) and with an --interface that does not exist (exit
// 2) leave an existing -o file byte-identical; as root a symlinked -o is
// refused (exit 2) and the file it points to is untouched. The control: a
// run whose engine opens replaces the file.
func TestLiveOutputSafety(t *testing.T) {
	testnet.RequirePrivileges(t)
	_, open, _ := loopbackPorts(t)
	dir := t.TempDir()
	out := filepath.Join(dir, "results.jsonl")
	yesterday := []byte(`{"target":"198.18.0.1:80","state":"open"}` + "\n")
	if err := os.WriteFile(out, yesterday, 0o644); err != nil {
		t.Fatal(err)
	}
	unchanged := func(what string) {
		t.Helper()
		if b, _ := os.ReadFile(out); !bytes.Equal(b, yesterday) {
			t.Errorf("%s: -o file changed: %q", what, b)
		}
	}
	code, _, stderr := runChild(t, withoutNetRaw(t), "--engine", "raw", "--format", "jsonl", "-o", out, open.String())
	if code != exitRuntime || !strings.Contains(stderr, "CAP_NET_RAW") {
		t.Errorf("without CAP_NET_RAW: exit %d\n%s", code, stderr)
	}
	unchanged("engine without CAP_NET_RAW")
	code, _, stderr = runChild(t, nil, "--engine", "raw", "--interface", "rpnosuch0", "--format", "jsonl", "-o", out, open.String())
	if code != exitBadInput || !strings.Contains(stderr, "--interface") {
		t.Errorf("bad --interface: exit %d\n%s", code, stderr)
	}
	unchanged("bad --interface")
	link := filepath.Join(dir, "link.jsonl")
	if err := os.Symlink(out, link); err != nil {
		t.Fatal(err)
	}
	code, _, stderr = runChild(t, nil, "--engine", "raw", "--format", "jsonl", "-o", link, open.String())
	if code != exitBadInput || !strings.Contains(stderr, "symbolic link") {
		t.Errorf("symlinked -o as root: exit %d\n%s", code, stderr)
	}
	unchanged("symlinked -o")
	code, _, stderr = runChild(t, nil, "--engine", "raw", "--format", "jsonl", "-o", out, open.String())
	if b, _ := os.ReadFile(out); code != exitAllOpen || bytes.Equal(b, yesterday) || !strings.Contains(string(b), open.String()) {
		t.Errorf("control: exit %d, -o %q\n%s", code, b, stderr)
	}
}
