package rawcheck

import (
	"net/netip"
	"testing"
	"time"
)

// TestTimeoutClasses checks that the classes run from the floor to the
// ceiling in ascending order, and that classOf rounds a timeout up to the
// nearest class, never down and at most 19% up (below the last class).
func TestTimeoutClasses(t *testing.T) {
	for _, ceiling := range []time.Duration{time.Nanosecond, 5 * time.Millisecond, time.Second, time.Hour, 1 << 62} {
		tm := newTiming(ceiling, 0, DefaultAttemptCeiling, 1)
		cs := tm.classes
		if len(cs) == 0 || len(cs) > maxTimeoutClasses || cs[0] != tm.floor || cs[len(cs)-1] != int64(ceiling) {
			t.Fatalf("ceiling %v: %d classes from %d to %d", ceiling, len(cs), cs[0], cs[len(cs)-1])
		}
		for i := 1; i < len(cs); i++ {
			if cs[i] <= cs[i-1] {
				t.Fatalf("ceiling %v: class %d (%d) not above class %d (%d)", ceiling, i, cs[i], i-1, cs[i-1])
			}
		}
		for _, d := range []int64{1, tm.floor, tm.floor + 1, 3 * tm.floor, int64(ceiling) / 3, int64(ceiling) - 1, int64(ceiling)} {
			if d > int64(ceiling) {
				continue // timeouts are clamped to the ceiling before classOf
			}
			c := tm.classOf(d)
			got := cs[c]
			if d > tm.floor && got < d || (c > 0 && cs[c-1] >= d) {
				t.Errorf("ceiling %v: classOf(%d) = class %d (%d): not the smallest class >= it", ceiling, d, c, got)
			}
			if ceiling == time.Second && d > tm.floor && int(c) < len(cs)-1 && float64(got) > 1.19*float64(d)+1 {
				t.Errorf("classOf(%d) = %d: rounded up more than 19%%", d, got)
			}
		}
	}
}

// TestTimingRTO checks the RFC 6298 estimator: no sample means the ceiling;
// a steady 50 ms path gets about 50 ms plus its variation; retransmissions
// double it up to the ceiling; a sub-millisecond path gets the floor; and
// another prefix keeps its own estimate.
func TestTimingRTO(t *testing.T) {
	tm := newTiming(time.Second, 0, DefaultAttemptCeiling, 1)
	a := netip.MustParseAddr("198.18.1.7").As16()
	same := netip.MustParseAddr("198.18.1.200").As16() // same /24
	other := netip.MustParseAddr("198.18.2.7").As16()
	class := func(addr [16]byte, attempt int) time.Duration {
		c, provisional := tm.timeout(&addr, attempt)
		if provisional {
			return time.Duration(tm.rto(&addr, attempt))
		}
		return time.Duration(tm.classes[c])
	}
	if got := class(a, 1); got != time.Second {
		t.Fatalf("no sample: timeout %v, want the ceiling 1s", got)
	}
	// Without a sample the timeout is provisional: looked at again after
	// the floor, then after twice its age, and due at the ceiling.
	if c, provisional := tm.timeout(&a, 1); !provisional || tm.classes[c] != tm.floor {
		t.Errorf("no sample: class %d (%v), provisional %v; want the floor, provisional", c, tm.classes[c], provisional)
	}
	if due, c, provisional := tm.recheck(&a, 1, int64(40*time.Millisecond)); due || !provisional || tm.classes[c] < int64(80*time.Millisecond) {
		t.Errorf("recheck at 40 ms without a sample: due %v, class %v, provisional %v; want not due, >= 80 ms, provisional", due, tm.classes[c], provisional)
	}
	if due, _, _ := tm.recheck(&a, 1, int64(time.Second)); !due {
		t.Error("recheck at the ceiling without a sample: not due")
	}
	for range 50 {
		tm.answer(&a, 1, int64(50*time.Millisecond))
	}
	got := class(same, 1)
	if got < 50*time.Millisecond || got > 70*time.Millisecond {
		t.Errorf("steady 50 ms: timeout %v, want 50-70 ms", got)
	}
	// A provisional attempt looked at again once the estimate exists
	// follows it: due after it, not before.
	if due, c, provisional := tm.recheck(&same, 1, int64(20*time.Millisecond)); due || provisional || time.Duration(tm.classes[c]) != got {
		t.Errorf("recheck at 20 ms with a 50 ms estimate: due %v, class %v, provisional %v; want %v", due, tm.classes[c], provisional, got)
	}
	if due, _, _ := tm.recheck(&same, 1, int64(got)); !due {
		t.Errorf("recheck at %v with a 50 ms estimate: not due", got)
	}
	if g2 := class(same, 2); g2 < 2*got*84/100 || g2 > 2*got*119/100 {
		t.Errorf("second attempt: timeout %v, want about twice %v", g2, got)
	}
	if g3, g6 := class(same, 3), class(same, 6); g6 != g3 || g3 < 4*got*84/100 || g3 > 4*got*119/100 {
		t.Errorf("third and sixth attempts: timeouts %v and %v, want both about 4 × %v (backoff bounded)", g3, g6, got)
	}
	for range 50 {
		tm.answer(&a, 1, int64(400*time.Millisecond))
	}
	if g := class(same, 3); g != time.Second {
		t.Errorf("400 ms path, third attempt: timeout %v, want the ceiling", g)
	}
	if g := class(other, 1); g != time.Second {
		t.Errorf("other prefix: timeout %v, want the ceiling (no sample)", g)
	}
	for range 50 {
		tm.answer(&other, 1, int64(100*time.Microsecond))
	}
	if g := class(other, 1); g != DefaultMinTimeout {
		t.Errorf("100 µs path: timeout %v, want the floor %v", g, DefaultMinTimeout)
	}
	// Karn's rule: a retransmitted probe's reply gives no sample.
	before := tm.rttSamples
	tm.answer(&a, 2, int64(time.Millisecond))
	if tm.rttSamples != before {
		t.Errorf("a reply after a retransmission was taken as an RTT sample")
	}
}

// TestTimingAttempts checks the adaptive attempts: enough that opens ×
// loss^k < missedPortsTarget, at least 2, at most the ceiling; fixed
// attempts win.
func TestTimingAttempts(t *testing.T) {
	addr := netip.MustParseAddr("198.18.0.1").As16()
	tm := newTiming(time.Second, 0, DefaultAttemptCeiling, 1)
	if k := tm.attempts(0, 0, 0); k != minAdaptiveAttempts {
		t.Errorf("no answers: %d attempts, want %d", k, minAdaptiveAttempts)
	}
	// 10% loss: 9,000 answered at once, 900 at the second, 100 at the third attempt.
	for range 9000 {
		tm.answer(&addr, 1, 1000)
	}
	for range 900 {
		tm.answer(&addr, 2, 1000)
	}
	for range 100 {
		tm.answer(&addr, 3, 1000)
	}
	if p := tm.loss(0); p < 0.09 || p > 0.11 {
		t.Fatalf("loss estimate %v, want about 0.1", p)
	}
	// 65,536 × 0.1^7 = 0.0066 < 0.01 <= 65,536 × 0.1^6.
	if k := tm.attempts(65536, 0, 0); k != 7 {
		t.Errorf("65,536 open at 10%% loss: %d attempts, want 7", k)
	}
	// 5 × 0.1^3 = 0.005 < 0.01 <= 5 × 0.1^2.
	if k := tm.attempts(5, 0, 0); k != 3 {
		t.Errorf("5 open at 10%% loss: %d attempts, want 3", k)
	}
	// Early in a scan: 5 of the 10,000 answered are open, and the 20,000
	// probes in flight are expected to hold 10 more:
	// 15 × 0.1^4 < 0.01 <= 15 × 0.1^3.
	if k := tm.attempts(5, 20000, 0); k != 4 {
		t.Errorf("5 open, 20,000 in flight: %d attempts, want 4", k)
	}
	// Duplicate replies are early retransmissions, not losses: 1,100 of
	// them cancel the 1,100 lost attempts.
	if p := tm.loss(1100); p > 0.001 {
		t.Errorf("loss estimate with 1,100 duplicates %v, want about 0", p)
	}
	capped := newTiming(time.Second, 0, 3, 1)
	*capped = *tm
	capped.maxAttempts = 3
	if k := capped.attempts(65536, 0, 0); k != 3 {
		t.Errorf("ceiling 3: %d attempts, want 3", k)
	}
	fixed := newTiming(time.Second, 7, DefaultAttemptCeiling, 1)
	if k := fixed.attempts(0, 0, 0); k != 7 {
		t.Errorf("fixed 7: %d attempts", k)
	}
	// Without loss the estimate (1/65,538) falls and one retransmission
	// is enough: 65,536 / 65,538^2 < 0.01.
	clean := newTiming(time.Second, 0, DefaultAttemptCeiling, 1)
	for range 65536 {
		clean.answer(&addr, 1, 1000)
	}
	if k := clean.attempts(65536, 0, 0); k != 2 {
		t.Errorf("no loss seen: %d attempts, want 2", k)
	}

}

// TestTimingPercentiles checks p50 and p99 against known samples, within
// the histogram's 9% resolution.
func TestTimingPercentiles(t *testing.T) {
	tm := newTiming(time.Second, 0, DefaultAttemptCeiling, 1)
	if tm.percentile(0.5) != 0 {
		t.Fatal("percentile without samples is not 0")
	}
	addr := netip.MustParseAddr("198.18.0.1").As16()
	for i := range 1000 {
		rtt := time.Millisecond
		if i >= 985 {
			rtt = 200 * time.Millisecond
		}
		tm.answer(&addr, 1, int64(rtt))
	}
	if p := tm.percentile(0.5); p < time.Millisecond || p > 1090*time.Microsecond {
		t.Errorf("p50 %v, want 1 ms (+9%%)", p)
	}
	if p := tm.percentile(0.99); p < 200*time.Millisecond || p > 218*time.Millisecond {
		t.Errorf("p99 %v, want 200 ms (+9%%)", p)
	}
}
