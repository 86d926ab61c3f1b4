package netlab

import (
	"net"
	"net/netip"
	"testing"
	"time"
)

// TestDelayPath connects from the prober to a 50 ms and a 1 ms delay path:
// the handshake completes through the tun responder on both, the 50 ms one
// no sooner than its delay less jitter, and the 1 ms one as the control
// that the wait comes from the path (it finishes well before 45 ms is
// needed). Overlapping prefixes and bad delays are refused.
func TestDelayPath(t *testing.T) {
	n := newTestNet(t)
	slow, err := n.AddDelayPath(netip.MustParsePrefix("198.19.20.0/24"), 50*time.Millisecond, 5*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	fast, err := n.AddDelayPath(netip.MustParsePrefix("198.19.21.0/24"), time.Millisecond, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer fast.Close()
	dial := func(to string) time.Duration {
		var took time.Duration
		if err := n.InProber(func() error {
			start := time.Now()
			c, err := net.DialTimeout("tcp", to, 5*time.Second)
			took = time.Since(start)
			if err == nil {
				c.Close()
			}
			return err
		}); err != nil {
			t.Fatalf("dial %s: %v", to, err)
		}
		return took
	}
	if d := dial("198.19.20.9:443"); d < 45*time.Millisecond {
		t.Errorf("50 ms path answered in %v", d)
	}
	// Several tries: a loaded machine may delay one; the fastest counts.
	best := time.Hour
	for range 5 {
		best = min(best, dial("198.19.21.9:80"))
	}
	if best >= 45*time.Millisecond {
		t.Errorf("1 ms path (control) took at least %v: the delay is not the path's", best)
	}
	if slow.SYNACKs() != 1 || fast.SYNACKs() != 5 {
		t.Errorf("SYN-ACKs sent: %d and %d, want 1 and 5", slow.SYNACKs(), fast.SYNACKs())
	}
	for _, bad := range []struct {
		p             string
		delay, jitter time.Duration
	}{
		{"198.18.1.0/24", time.Millisecond, 0}, // inside Answering4
		{"198.19.20.128/25", time.Millisecond, 0},
		{"192.0.2.0/24", time.Millisecond, 0},
		{"198.19.30.0/24", time.Millisecond, 2 * time.Millisecond},
	} {
		if d, err := n.AddDelayPath(netip.MustParsePrefix(bad.p), bad.delay, bad.jitter); err == nil {
			d.Close()
			t.Errorf("AddDelayPath(%s, %v, %v) accepted", bad.p, bad.delay, bad.jitter)
		}
	}
}
