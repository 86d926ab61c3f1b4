package rawcheck

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/rawprobe/rawprobe/internal/verify/testnet"
)

// scanCount scans targets and returns how many results each target got and
// the count by state.
func scanCount(t *testing.T, p *Prober, targets func(func(netip.AddrPort) bool)) (map[netip.AddrPort]int, map[State]int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	seen := make(map[netip.AddrPort]int, 65536)
	states := map[State]int{}
	if err := p.Scan(ctx, targets, func(r Result) {
		seen[r.Target]++
		states[r.State]++
	}); err != nil {
		t.Fatal(err)
	}
	return seen, states
}

// TestLoadScanLossAdaptive scans the whole answering /16 on port 80 while
// the target drops 10% of the SYNs, with the default timing settings
// (adaptive attempts): every target must be reported open exactly once,
// since the attempts grow with the measured loss until fewer than one open
// port is expected to be missed. The negative control is the same scan with
// exactly 3 attempts, which loses about 0.1^3 × 65,536 ≈ 66 targets: the
// check must see them.
func TestLoadScanLossAdaptive(t *testing.T) {
	if testing.Short() {
		t.Skip("load test: runs in make test's second pass without -race")
	}
	n := testnet.New(t, testnet.WithLoss(0.1))
	n.Listen(t, "tcp", ":80")
	for _, tc := range []struct {
		name     string
		attempts int
		wantAll  bool
	}{
		{"adaptive", 0, true},
		{"exactly 3 attempts (control)", 3, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newInProber(t, n, Config{Attempts: tc.attempts})
			start := time.Now()
			seen, states := scanCount(t, p, prefixPorts(n.Answering4, 80))
			st := p.Stats()
			t.Logf("%v for 65,536 targets; states %v; stats %+v", time.Since(start), states, st)
			if len(seen) != 65536 {
				t.Errorf("%d targets have results, want 65,536", len(seen))
			}
			for tg, c := range seen {
				if c != 1 || !n.Answering4.Contains(tg.Addr()) {
					t.Errorf("%v: %d results", tg, c)
				}
			}
			if st.LossEstimate < 0.05 || st.LossEstimate > 0.2 {
				t.Errorf("loss estimate %.3f, want about 0.1", st.LossEstimate)
			}
			if st.RTTSamples == 0 || st.RTTP50 <= 0 || st.RTTP99 < st.RTTP50 {
				t.Errorf("RTT samples %d, p50 %v, p99 %v: want samples and p50 <= p99", st.RTTSamples, st.RTTP50, st.RTTP99)
			}
			switch all := states[Open] == 65536; {
			case tc.wantAll && !all:
				t.Errorf("states %v: want all 65,536 open (%d replies dropped by a full receive ring)", states, st.RingDrops)
			case !tc.wantAll && all:
				t.Errorf("control: all 65,536 open with 3 attempts at 10%% loss: the check cannot see lost targets")
			}
		})
	}
}

// TestSilentAttempts probes a silent /24 with the default timing settings:
// with no answer anywhere the loss is unknown, so each target gets the
// minimum of adaptive attempts and the Config.Timeout ceiling per attempt;
// the attempts reported are the SYNs really sent.
func TestSilentAttempts(t *testing.T) {
	n := testnet.New(t)
	p := newInProber(t, n, Config{Timeout: 300 * time.Millisecond})
	start := time.Now()
	seen, states := scanCount(t, p, prefixPorts(n.Silent4, 80))
	took := time.Since(start)
	st := p.Stats()
	t.Logf("%v for %d silent targets; stats %+v", took, len(seen), st)
	if states[Timeout] != 256 || len(seen) != 256 {
		t.Errorf("states %v for %d targets, want 256 timeouts", states, len(seen))
	}
	if want := uint64(256 * minAdaptiveAttempts); st.Sent != want || st.Timeouts != 256 {
		t.Errorf("%d SYNs sent, %d timeouts: want %d and 256", st.Sent, st.Timeouts, want)
	}
	if took < minAdaptiveAttempts*300*time.Millisecond {
		t.Errorf("silent scan ended after %v, before its %d attempts of 300 ms", took, minAdaptiveAttempts)
	}
}

// TestLoadMixedDelayScan scans three /24s whose SYN-ACKs come back after
// 1 ms, 50 ms and 200 ms (± 10%), with 10% of the SYNs dropped, in one scan
// with the default timing settings: every target must be open exactly once
// with an RTT no shorter than its path's delay when answered at the first
// attempt (the delay paths work), and the RTT p99 must be the 200 ms
// path's.
func TestLoadMixedDelayScan(t *testing.T) {
	if testing.Short() {
		t.Skip("load test: runs in make test's second pass without -race")
	}
	n := testnet.New(t, testnet.WithLoss(0.1))
	paths := []*testnet.DelayPath{
		n.DelayPath(t, netip.MustParsePrefix("198.19.10.0/24"), time.Millisecond, 100*time.Microsecond),
		n.DelayPath(t, netip.MustParsePrefix("198.19.11.0/24"), 50*time.Millisecond, 5*time.Millisecond),
		n.DelayPath(t, netip.MustParsePrefix("198.19.12.0/24"), 200*time.Millisecond, 20*time.Millisecond),
	}
	p := newInProber(t, n, Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	seen := map[netip.AddrPort]int{}
	var short []Result
	start := time.Now()
	err := p.Scan(ctx, func(yield func(netip.AddrPort) bool) {
		for port := uint16(80); port < 84; port++ {
			for _, d := range paths {
				for a := d.Prefix.Addr(); d.Prefix.Contains(a); a = a.Next() {
					if !yield(netip.AddrPortFrom(a, port)) {
						return
					}
				}
			}
		}
	}, func(r Result) {
		seen[r.Target]++
		for _, d := range paths {
			if d.Prefix.Contains(r.Target.Addr()) && r.State == Open && r.Attempts == 1 && r.RTT < d.Delay-d.Jitter {
				short = append(short, r)
			}
		}
		if r.State != Open {
			t.Errorf("%v: %v after %d attempts, want open", r.Target, r.State, r.Attempts)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	st := p.Stats()
	t.Logf("%v for %d targets; stats %+v", time.Since(start), len(seen), st)
	if len(seen) != 3*256*4 {
		t.Errorf("%d targets have results, want %d", len(seen), 3*256*4)
	}
	for tg, c := range seen {
		if c != 1 {
			t.Errorf("%v: %d results", tg, c)
		}
	}
	if len(short) > 0 {
		t.Errorf("%d replies faster than their path's delay, e.g. %+v", len(short), short[0])
	}
	if st.RTTP99 < 180*time.Millisecond {
		t.Errorf("RTT p99 %v, want the 200 ms path's", st.RTTP99)
	}
}
