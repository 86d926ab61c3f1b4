package epollcheck

import (
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rawprobe/rawprobe/internal/verify/netlab"
	"github.com/rawprobe/rawprobe/internal/verify/pcapcheck"
	"github.com/rawprobe/rawprobe/internal/verify/testnet"
)

// TestLoadPcap50k is the pcap proof: 50,000 checks at concurrency 1,000
// against one open port in the test network. Every flow must be SYN,
// SYN-ACK, one RST from the prober and nothing else (no segment with ACK
// alone); the target's TCP must complete no handshake (Tcp.PassiveOpens
// unchanged) and its application accept nothing. It logs the SYN-ACK->RST
// gap p50/p99.
//
// One kernel race is tolerated, and only when the capture shows it: the
// kernel may give a new connect the source port a check has just closed
// (within microseconds of our RST), and the target, still tearing down the
// previous connection of that 4-tuple, answers the new SYN with SYN-ACK
// and RST. That check reports ECONNREFUSED and its flow has a target RST
// and no prober RST (none is due: the target reset it). Each refusal must
// be matched by such a flow, and such flows must carry no prober ACK.
// envRefusedFile names the file where TestLoadPcap50k's child writes how
// many checks were refused.
const envRefusedFile = "RAWPROBE_EPOLLCHECK_REFUSED_FILE"

func TestLoadPcap50k(t *testing.T) {
	if testing.Short() {
		t.Skip("load test: runs in make test's second pass without -race")
	}
	const checks, conc = 50_000, 1_000
	if n, ok := testnet.Child(); ok {
		c := startedEngine(t)
		addr := at(netlab.Nth(n.Answering4, 1), 80)
		var next, failed, refused atomic.Int64
		var wg sync.WaitGroup
		start := time.Now()
		for range conc {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for next.Add(1) <= checks {
					switch o := checkAddr(c, addr, 5*time.Second); o.Kind {
					case Open:
					case Refused:
						refused.Add(1)
					default:
						if failed.Add(1) <= 3 {
							t.Errorf("check: %+v", o)
						}
					}
				}
			}()
		}
		wg.Wait()
		el := time.Since(start)
		t.Logf("%d checks at concurrency %d in %v (%.0f checks/s), %d failed, %d refused", checks, conc, el, checks/el.Seconds(), failed.Load(), refused.Load())
		if err := os.WriteFile(os.Getenv(envRefusedFile), []byte(strconv.FormatInt(refused.Load(), 10)), 0o644); err != nil {
			t.Error(err)
		}
		return
	}
	n := testnet.New(t)
	l := n.Listen(t, "tcp", ":80")
	before, err := n.TargetCounters()
	if err != nil {
		t.Fatal(err)
	}
	capture := pcapcheck.Start(t, n.ProberLink, n.InProber)
	refusedFile := filepath.Join(t.TempDir(), "refused")
	n.RunInProber(t, envRefusedFile+"="+refusedFile)
	rep := capture.Analyze()
	t.Logf("pcap: %d frames (%d dropped), %d flows, %d SYN-ACK flows, %d ACK-only segments; %v",
		rep.Packets, rep.Dropped, len(rep.Flows), rep.SYNACKFlows, rep.ACKOnlySegments, rep.Gap)
	targetReset, err := judgeCapture(rep, 0)
	if err != nil {
		t.Error(err)
	}
	b, err := os.ReadFile(refusedFile)
	if err != nil {
		t.Fatal(err)
	}
	if refused, _ := strconv.Atoi(string(b)); refused > targetReset {
		t.Errorf("%d checks refused, but only %d flows show the target's RST after its SYN-ACK", refused, targetReset)
	} else if refused > 0 {
		t.Logf("%d checks refused by the 4-tuple reuse race, each matched by a target RST in the capture", refused)
	}
	if rep.SYNACKFlows < checks || rep.ACKOnlySegments != 0 {
		t.Errorf("pcap: %d SYN-ACK flows (want >= %d), %d ACK-only segments (want 0)", rep.SYNACKFlows, checks, rep.ACKOnlySegments)
	}
	after, err := n.TargetCounters()
	if err != nil {
		t.Fatal(err)
	}
	if d := after["Tcp.PassiveOpens"] - before["Tcp.PassiveOpens"]; d != 0 || l.Accepted() != 0 {
		t.Errorf("target completed %d handshakes (Tcp.PassiveOpens) and accepted %d connections; want 0 and 0", d, l.Accepted())
	}
}
