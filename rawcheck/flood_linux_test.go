package rawcheck

import (
	"context"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/rawprobe/rawprobe/internal/verify/netlab"
	"github.com/rawprobe/rawprobe/internal/verify/testnet"
)

// TestLoadScanUnderRSTFlood scans the whole answering /16 on port 80 while
// hping3, in the target namespace, floods the engine's source ports with
// 1,400-byte RST-ACKs from an address the scan does not probe: every
// target must still be reported open exactly once, the flood must have
// reached the engine (counted invalid: the negative control that the test
// floods at all), and the ring drops it caused, if any, are in Stats. The
// flood is bounded by time (it stops when the scan ends, at the latest
// after 60 s).
func TestLoadScanUnderRSTFlood(t *testing.T) {
	if testing.Short() || raceEnabled {
		// Under -race the reader is several times slower and the flood
		// overflows the ring enough to lose SYN-ACKs for good.
		t.Skip("load test: runs in make test's second pass without -race")
	}
	testnet.RequirePrivileges(t)
	hping, err := exec.LookPath("hping3")
	if err != nil {
		t.Skip("hping3 not installed (make deps installs it)")
	}
	n := testnet.New(t)
	n.Listen(t, "tcp", ":80")
	p := newInProber(t, n, Config{})
	ports := p.e.ports.ports
	floodCtx, stopFlood := context.WithTimeout(context.Background(), 60*time.Second)
	defer stopFlood()
	// One hping3 per end of the chunk: RST and ACK set, 1,400 bytes of
	// payload, as fast as it can, from a silent address.
	var floods []*exec.Cmd
	for _, port := range []uint16{ports[0], ports[len(ports)-1]} {
		cmd := n.TargetCmd(floodCtx, hping, "--flood", "-q", "-R", "-A", "-d", "1400",
			"-p", strconv.Itoa(int(port)), "-a", netlab.Nth(n.Silent4, 9).String(), n.ProberAddr4.String())
		cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGINT) }
		cmd.WaitDelay = 5 * time.Second
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		floods = append(floods, cmd)
	}
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		stopFlood()
		for _, cmd := range floods {
			cmd.Wait() // killed by its context: an error is expected
		}
	}
	t.Cleanup(stop)
	// The flood is under way before the scan starts.
	for deadline := time.Now().Add(10 * time.Second); p.Stats().Invalid < 1000; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the flood did not reach the engine: stats %+v", p.Stats())
		}
	}
	start := time.Now()
	seen, states := scanCount(t, p, prefixPorts(n.Answering4, 80))
	took := time.Since(start)
	st := p.Stats()
	stop()
	t.Logf("%v for 65,536 targets under the flood; states %v; %d invalid replies, %d ring drops, %d send errors, %d retransmitted",
		took, states, st.Invalid, st.RingDrops, st.SendErrors, st.Retransmitted)
	if len(seen) != 65536 || states[Open] != 65536 {
		t.Errorf("%d targets have results, %d open: want all 65,536 open (%d replies dropped by a full receive ring)", len(seen), states[Open], st.RingDrops)
	}
	for tg, c := range seen {
		if c != 1 || !n.Answering4.Contains(tg.Addr()) {
			t.Errorf("%v: %d results", tg, c)
		}
	}
	if st.Open != 65536 || st.Invalid < 1000 {
		t.Errorf("stats %+v: want 65,536 open and the flood counted invalid", st)
	}
}
