package rawcheck

import (
	"context"
	"iter"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/rawprobe/rawprobe/internal/verify/testnet"
)

// prefixPorts yields every address of p with each of ports.
func prefixPorts(p netip.Prefix, ports ...uint16) iter.Seq[netip.AddrPort] {
	return func(yield func(netip.AddrPort) bool) {
		for a := p.Masked().Addr(); p.Contains(a); a = a.Next() {
			for _, port := range ports {
				if !yield(netip.AddrPortFrom(a, port)) {
					return
				}
			}
		}
	}
}

// TestLoadScanLoss scans the whole answering /16 on port 80 while the
// target drops 10% of the SYNs at random, with 2 retries: every target
// must get exactly one result, open unless all three of its SYNs were
// dropped (expected 0.1^3 * 65,536 ≈ 66 targets). The targets left as
// timeout are then probed again with the loss removed, as the control
// that they were lost to the drops: they must all be open.
func TestLoadScanLoss(t *testing.T) {
	if testing.Short() {
		t.Skip("load test: runs in make test's second pass without -race")
	}
	n := testnet.New(t, testnet.WithLoss(0.1))
	l := n.Listen(t, "tcp", ":80")
	p := newInProber(t, n, Config{Timeout: time.Second, Attempts: 3})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	seen := make(map[netip.AddrPort]uint8, 65536)
	var lost []netip.AddrPort
	states := map[State]int{}
	start := time.Now()
	err := p.Scan(ctx, prefixPorts(n.Answering4, 80), func(r Result) {
		seen[r.Target]++
		states[r.State]++
		if r.State == Timeout {
			lost = append(lost, r.Target)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	st := p.Stats()
	t.Logf("%v for 65,536 targets; states %v; stats %+v", time.Since(start), states, st)
	if len(seen) != 65536 {
		t.Errorf("%d targets have results, want 65,536", len(seen))
	}
	for tg, c := range seen {
		if c != 1 || !n.Answering4.Contains(tg.Addr()) || tg.Port() != 80 {
			t.Errorf("%v: %d results", tg, c)
		}
	}
	if states[Open]+states[Timeout] != 65536 {
		t.Errorf("states %v: want only open and timeout", states)
	}
	// 10% loss: about 6,554 first SYNs lost, so about 7,300 retransmissions;
	// a reply that comes after the timeout (loaded machine) adds one more
	// retransmission and then one late reply.
	if st.Retransmitted < 5000 || st.Retransmitted > 10000+st.Late {
		t.Errorf("%d retransmissions (%d late replies), want about 7,300 for 10%% loss", st.Retransmitted, st.Late)
	}
	if states[Timeout] > 300 {
		t.Errorf("%d timeouts, want about 66 (0.1^3 of 65,536); %d replies dropped by a full receive ring", states[Timeout], st.RingDrops)
	}
	if err := n.SetLoss(0); err != nil {
		t.Fatal(err)
	}
	again := 0
	if err := p.Scan(ctx, slices.Values(lost), func(r Result) {
		if r.State == Open {
			again++
		}
	}); err != nil {
		t.Fatal(err)
	}
	if again != len(lost) {
		t.Errorf("%d of the %d targets lost to the drops are open without loss", again, len(lost))
	}
	if a := l.Accepted(); a != 0 {
		t.Errorf("the target accepted %d connections, want 0", a)
	}
	if opens := passiveOpens(t, n); opens != 0 {
		t.Errorf("the target's TCP completed %d handshakes, want 0", opens)
	}
}
