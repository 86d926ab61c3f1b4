package rawcheck

import (
	"context"
	"errors"
	"math/rand/v2"
	"net/netip"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/rawprobe/rawprobe/internal/verify/netlab"
	"github.com/rawprobe/rawprobe/internal/verify/pcapcheck"
	"github.com/rawprobe/rawprobe/internal/verify/testnet"
	"github.com/rawprobe/rawprobe/synack"
)

// TestSweepStates sweeps every kind of target at once, both families, 50
// of each, and checks that the targets that answer (open, closed,
// unreachable) are reported once each with their state, an RTT and one
// attempt, the silent ones not at all, and a target without a route and
// one whose SYN the kernel refuses as NoRoute; that the capture shows each
// SYN-ACK answered by one RST and no ACK; and that the target's TCP
// completed no handshake.
func TestSweepStates(t *testing.T) {
	n := testnet.New(t)
	l := n.Listen(t, "tcp", ":80")
	p := newInProber(t, n, Config{SourcePorts: [2]uint16{61000, 61063}, Timeout: 300 * time.Millisecond, Attempts: 3})
	c := pcapcheck.Start(t, n.ProberLink, n.InProber)
	want := map[netip.AddrPort]stateCase{}
	var targets []netip.AddrPort
	silent := 0
	for _, six := range []bool{false, true} {
		for _, tc := range stateCases(n, six) {
			a := tc.target.Addr()
			for range 50 {
				tc.target = netip.AddrPortFrom(a, tc.target.Port())
				targets = append(targets, tc.target)
				if tc.state.State == Timeout {
					silent++
				} else {
					want[tc.target] = tc
				}
				a = a.Next()
			}
		}
	}
	noRoute := netip.MustParseAddrPort("192.0.2.9:80") // the prober namespace has no route to 192.0.2.0/24
	refused := netip.AddrPortFrom(proberBroadcast4(t, n), 80)
	targets = append(targets, noRoute, refused)
	got := map[netip.AddrPort]int{}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	began := time.Now()
	err := p.Sweep(ctx, slices.Values(targets), func(r Result) {
		got[r.Target]++
		if r.Target == noRoute || r.Target == refused {
			if r.State != NoRoute || r.Attempts != 0 || r.RTT != 0 {
				t.Errorf("%v: %+v, want NoRoute with nothing sent", r.Target, r)
			}
			return
		}
		tc, ok := want[r.Target]
		if !ok {
			t.Errorf("result for a target that cannot answer: %+v", r)
			return
		}
		tc.attempts = 1
		checkResult(t, tc, r)
	})
	if err != nil {
		t.Fatal(err)
	}
	// It waits Config.Timeout after the last SYN for the answers.
	if d := time.Since(began); d < 300*time.Millisecond {
		t.Errorf("Sweep returned after %v, before its 300ms timeout", d)
	}
	for tg := range want {
		if got[tg] != 1 {
			t.Errorf("%v: %d results, want 1", tg, got[tg])
		}
	}
	for _, tg := range []netip.AddrPort{noRoute, refused} {
		if got[tg] != 1 {
			t.Errorf("%v: %d results, want 1 (NoRoute)", tg, got[tg])
		}
	}
	st := p.Stats()
	t.Logf("stats %+v", st)
	if st.Open != 100 || st.Closed != 100 || st.Unreachable != 100 || st.NoRoute != 2 || st.Timeouts != 0 {
		t.Errorf("stats: %d open, %d closed, %d unreachable, %d no route, %d timeouts; want 100, 100, 100, 2, 0",
			st.Open, st.Closed, st.Unreachable, st.NoRoute, st.Timeouts)
	}
	// One SYN per routed target, whatever Config.Attempts says.
	if want := uint64(len(targets) - 2); st.Sent != want || st.Retransmitted != 0 {
		t.Errorf("stats: %d SYNs sent, %d retransmitted; want %d and 0", st.Sent, st.Retransmitted, want)
	}
	if a := l.Accepted(); a != 0 {
		t.Errorf("the target accepted %d connections, want 0", a)
	}
	time.Sleep(50 * time.Millisecond)
	rep := c.Analyze()
	if err := rep.Err(); err != nil {
		t.Error(err)
	}
	if rep.SYNACKFlows != 100 || rep.RSTFlows != 100 || rep.ICMPFlows != 100 || rep.NoReplyFlows != silent {
		t.Errorf("capture: %v; want 100 flows of each reply and %d without", rep, silent)
	}
	if opens := passiveOpens(t, n); opens != 0 {
		t.Errorf("the target's TCP completed %d handshakes, want 0", opens)
	}
}

// TestSweepLateReplies sweeps a prefix whose SYN-ACKs come 400 ms late
// with a 150 ms timeout: the replies arrive after the Sweep has returned,
// so none is reported; they count as late, not invalid. The control
// sweeps the same targets with a 1 s timeout and gets every one.
func TestSweepLateReplies(t *testing.T) {
	n := testnet.New(t)
	slow := n.DelayPath(t, netip.MustParsePrefix("198.19.20.0/24"), 400*time.Millisecond, 0)
	var targets []netip.AddrPort
	for i := range 20 {
		targets = append(targets, netip.AddrPortFrom(netlab.Nth(slow.Prefix, 1+i), 80))
	}
	for _, c := range []struct {
		timeout time.Duration
		want    int
	}{{150 * time.Millisecond, 0}, {time.Second, len(targets)}} {
		p := newInProber(t, n, Config{Timeout: c.timeout})
		results := 0
		if err := p.Sweep(context.Background(), slices.Values(targets), func(r Result) {
			if r.State != Open {
				t.Errorf("%+v, want Open", r)
			}
			if r.RTT < 350*time.Millisecond {
				t.Errorf("%v: RTT %v, want about 400ms", r.Target, r.RTT)
			}
			results++
		}); err != nil {
			t.Fatal(err)
		}
		if results != c.want {
			t.Errorf("timeout %v: %d results, want %d", c.timeout, results, c.want)
		}
		if c.want == 0 {
			deadline := time.Now().Add(2 * time.Second)
			for p.Stats().Late < uint64(len(targets)) && time.Now().Before(deadline) {
				time.Sleep(20 * time.Millisecond)
			}
			if st := p.Stats(); st.Late != uint64(len(targets)) || st.Invalid != 0 {
				t.Errorf("timeout %v: %d late and %d invalid replies, want %d and 0", c.timeout, st.Late, st.Invalid, len(targets))
			}
		}
		p.Close()
	}
}

// TestSweepBadTarget: a bad target stops the Sweep with an error naming
// it, and a cancelled ctx stops it promptly.
func TestSweepBadTarget(t *testing.T) {
	n := testnet.New(t)
	p := newInProber(t, n, Config{Timeout: 5 * time.Second})
	bad := netip.AddrPortFrom(netlab.Nth(n.Answering4, 1), 0)
	err := p.Sweep(context.Background(), slices.Values([]netip.AddrPort{bad}), func(Result) {})
	if err == nil || !strings.Contains(err.Error(), bad.String()) {
		t.Errorf("Sweep of %v: %v, want an error naming it", bad, err)
	}
	if st := p.Stats(); st.Sent != 0 {
		t.Errorf("%d SYNs sent for a bad target, want 0", st.Sent)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	began := time.Now()
	err = p.Sweep(ctx, slices.Values([]netip.AddrPort{netip.AddrPortFrom(netlab.Nth(n.Silent4, 1), 80)}), func(Result) {})
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(began) > 2*time.Second {
		t.Errorf("cancelled Sweep: %v after %v, want the deadline's error at once", err, time.Since(began))
	}
}

// TestSweepBatches checks that a Sweep nonce names its batch and gives
// back when it was built, for as many batches as the memory holds, also
// across the wrap of the 31-bit batch number; that the memory is sized
// from rate and timeout; and that the nonces of the pending table never
// look like a Sweep's.
func TestSweepBatches(t *testing.T) {
	for _, c := range []struct {
		rate    int
		timeout time.Duration
		want    int
	}{
		{1000, time.Second, minSweepBatches},
		{0, time.Second, 32768},                // 4M SYNs/s: 15,625 batches a second, twice
		{1_000_000, 30 * time.Second, 262144},  // 117,188 batches, twice
		{0, 10 * time.Minute, maxSweepBatches}, // capped
	} {
		if n := len(newSweepBatches(c.rate, c.timeout).built); n != c.want {
			t.Errorf("rate %d, timeout %v: %d batches remembered, want %d", c.rate, c.timeout, n, c.want)
		}
	}
	b := newSweepBatches(1000, time.Second)
	size := len(b.built)
	b.next = sweepSeqMask - 10 // wraps below
	var nonces []uint32
	for i := range size + 20 {
		n := b.batch(int64(i) * 1000)
		if n&sweepBit == 0 {
			t.Fatalf("batch nonce %#x without sweepBit", n)
		}
		nonces = append(nonces, n)
	}
	for i, n := range nonces {
		at, ok := b.sentAt(n)
		if recent := i >= 20; ok != recent || ok && at != int64(i)*1000 {
			t.Errorf("batch %d (nonce %#x): sentAt %d, %v; want %d, %v", i, n, at, ok, int64(i)*1000, recent)
		}
	}
	if _, ok := b.sentAt(b.next | sweepBit); ok {
		t.Errorf("the next batch number is known before it is built")
	}
	src, err := newNonceSource(16)
	if err != nil {
		t.Fatal(err)
	}
	for range 100000 {
		if n := src.next(); n&sweepBit != 0 || n == 0 {
			t.Fatalf("nonceSource.next() = %#x: zero or with sweepBit", n)
		}
	}
}

// TestSweepMatch drives the receiver's match with staged replies carrying
// Sweep nonces: the first reply to a SYN is reported, with its RTT from
// its batch; a duplicate is late, not reported; a SYN of another batch to
// the same 4-tuple is reported again (the control); a reply after the
// Timeout, to an unknown batch (a forged one), or after the Sweep's end is
// late, invalid and late; a table nonce that matches nothing stays
// invalid; and a reply to a batch of an earlier Sweep is late in the next.
func TestSweepMatch(t *testing.T) {
	nonces, err := newNonceSource(16)
	if err != nil {
		t.Fatal(err)
	}
	e := &engine{key: synack.CookieKey{K0: 1, K1: 2}, epoch: time.Now().Add(-time.Hour), table: newPendingTable(16, 3),
		nonces: nonces, timing: newTiming(time.Second, 1, DefaultAttemptCeiling, 1)}
	s := e.newSession(false)
	e.sweepBatches = newSweepBatches(0, time.Second)
	b := e.sweepBatches
	w := newSweepState(s, b.next, 16, 7)
	e.sweeping = w
	rv := newReceiver(e)
	target := netip.MustParseAddrPort("198.18.0.7:80")
	k := keyOf(target, 61000)
	stage := func(nonce uint32, at int64) {
		rv.staged = append(rv.staged, stagedReply{key: k, nonce: nonce, kind: synack.KindSYNACK, ttl: 64, at: at})
		rv.match()
	}
	sent := e.now() - 3e9 // match reads the clock: every time below is past
	old := b.batch(sent)
	first := b.batch(sent + 1e9)
	second := b.batch(sent + 2e9)
	stage(first, sent+1e9+2e6)
	stage(first, sent+1e9+3e6) // the target sent its SYN-ACK again
	stage(second, sent+2e9+1e6)
	stage(old, sent+2e9+2e6)             // 2 s after its batch: past the 1 s timeout
	stage(b.next|sweepBit, sent+2e9+3e6) // no such batch
	stage(12345, sent+2e9+4e6)           // no pending probe has it
	if len(s.results) != 2 {
		t.Fatalf("%d results, want 2: %+v", len(s.results), s.results)
	}
	for i, rtt := range []time.Duration{2 * time.Millisecond, time.Millisecond} {
		r := s.results[i]
		if r.Target != target || r.State != Open || r.Attempts != 1 || r.TTL != 64 || r.RTT != rtt {
			t.Errorf("result %d: %+v, want %v open after 1 attempt, TTL 64, RTT %v", i, r, target, rtt)
		}
	}
	if late, invalid := e.count.sweepLate.Load(), e.count.invalid.Load(); late != 2 || invalid != 2 || e.count.late.Load() != 0 {
		t.Errorf("%d late (Sweep) and %d invalid replies, want 2 and 2; %d late of Scans, want 0", late, invalid, e.count.late.Load())
	}
	// Its replies give RTT samples, and nothing to the loss estimate,
	// which a Sweep cannot inform (a lost SYN is a target not reported).
	if tm := e.timing; tm.rttSamples != 2 || tm.answered != 0 || tm.answeredAttempts != 0 || e.count.sweepOpen.Load() != 2 {
		t.Errorf("timing: %d RTT samples, %d answered in %d attempts, %d Sweep opens; want 2, 0, 0, 2", tm.rttSamples, tm.answered, tm.answeredAttempts, e.count.sweepOpen.Load())
	}
	// Forged replies: nonces as good as random, with sweepBit. None may
	// name a batch (3 numbers of 2^31; the seed is fixed).
	rng := rand.New(rand.NewPCG(1, 2))
	for range 10000 {
		stage(sweepBit|rng.Uint32(), sent+2e9+4e6)
	}
	if n, invalid := len(s.results), e.count.invalid.Load(); n != 2 || invalid != 2+10000 {
		t.Errorf("after 10,000 forged replies: %d results, %d invalid; want 2 and %d", n, invalid, 2+10000)
	}
	third := b.batch(sent + 2e9 + 5e6)
	w.ended = true
	stage(third, sent+2e9+6e6)
	if len(s.results) != 2 || e.count.sweepLate.Load() != 3 {
		t.Errorf("after the end: %d results, %d late; want 2 and 3", len(s.results), e.count.sweepLate.Load())
	}
	// The next Sweep: a reply to a batch of the last one, within its
	// timeout and never seen, is late, not one of its results; a reply to
	// its own batch is (the control).
	fourth := b.batch(sent + 2e9 + 7e6)
	s2 := e.newSession(false)
	e.sweeping = newSweepState(s2, b.next, 16, 8)
	fifth := b.batch(sent + 2e9 + 8e6)
	stage(fourth, sent+2e9+9e6)
	stage(fifth, sent+2e9+10e6)
	if len(s2.results) != 1 || s2.results[0].RTT != 2*time.Millisecond || e.count.sweepLate.Load() != 4 {
		t.Errorf("next Sweep: results %+v, %d late; want one with RTT 2ms, and 4 late", s2.results, e.count.sweepLate.Load())
	}
}

// TestSettleSweep drives settleSweep on a batch whose packets are marked
// refused by hand: each SYN refused for good gives its target NoRoute,
// once; the SYN the kernel took (the control) gives nothing, and nothing
// is sent again.
func TestSettleSweep(t *testing.T) {
	e, s, tmpl := settleEngine(t)
	e.sweepBatches = newSweepBatches(0, time.Second)
	e.sweeping = newSweepState(s, e.sweepBatches.next, 16, 1)
	const sport = 61000
	refusals := []unix.Errno{unix.EACCES, 0, unix.ENETUNREACH}
	b, spare := newSendBatch(len(refusals)), newSendBatch(len(refusals))
	var targets []netip.AddrPort
	for i, errno := range refusals {
		target := netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 18, 0, byte(i + 1)}), 80)
		targets = append(targets, target)
		seq := e.key.Sequence(netip.MustParseAddr("198.19.254.1"), target.Addr(), sport, target.Port(), e.sweepBatches.batch(0))
		b.add(tmpl.FillPacket(b.next(), target.Addr(), sport, target.Port(), seq), target.Addr())
		if errno != 0 {
			b.failed = append(b.failed, i)
			b.errs = append(b.errs, errno)
		}
	}
	e.settleSweep(b, spare, nil)
	want := []Result{{Target: targets[0], State: NoRoute}, {Target: targets[2], State: NoRoute}}
	if !slices.Equal(s.results, want) {
		t.Errorf("results %+v, want %+v", s.results, want)
	}
	if n := e.count.noRoute.Load(); n != 2 {
		t.Errorf("Stats.NoRoute %d, want 2", n)
	}
	if spare.len() != 0 || b.len() != 0 {
		t.Errorf("%d and %d packets left to send, want none", b.len(), spare.len())
	}
}

// TestAllocsSweep checks that a Sweep's allocations do not grow with its
// targets, not even per batch of SYNs: sweeping 32,768 silent targets
// allocates about what sweeping 2,048 does (the control for the
// measurement: the same sweeps' SYN counts differ by 30,720, 120 batches).
func TestAllocsSweep(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under the race detector (x/net's sync.Pool)")
	}
	n := testnet.New(t)
	p := newInProber(t, n, Config{Timeout: 20 * time.Millisecond})
	sweep := func(count int) (mallocs, sent uint64) {
		targets := func(yield func(netip.AddrPort) bool) { // the silent /24 × ports from 1000
			for i := range count {
				if !yield(netip.AddrPortFrom(netlab.Nth(n.Silent4, 1+i%254), uint16(1000+i/254))) {
					return
				}
			}
		}
		sent0 := p.Stats().Sent
		var m0, m1 runtime.MemStats
		runtime.ReadMemStats(&m0)
		if err := p.Sweep(context.Background(), targets, func(r Result) { t.Errorf("a silent target answered: %+v", r) }); err != nil {
			t.Fatal(err)
		}
		runtime.ReadMemStats(&m1)
		return m1.Mallocs - m0.Mallocs, p.Stats().Sent - sent0
	}
	sweep(2048) // warm up: the route, the neighbour
	small, smallSent := sweep(2048)
	large, largeSent := sweep(32768)
	t.Logf("allocations: %d for %d SYNs, %d for %d", small, smallSent, large, largeSent)
	if largeSent-smallSent != 30720 {
		t.Fatalf("SYNs sent: %d and %d, want 2048 and 32768", smallSent, largeSent)
	}
	if large > small+64 { // fewer than one per batch of 256 SYNs
		t.Errorf("a Sweep of 32,768 targets allocated %d times, one of 2,048 %d: it allocates per target", large, small)
	}
}

// TestSettleSweepResend: in the test network, SYNs of a Sweep batch that
// the kernel refused for want of buffers (marked so by hand) are built
// again with a new batch nonce and sent after the backoff, and their
// targets' answers are reported with an RTT from the new batch; a SYN
// refused otherwise gives NoRoute and is not sent again.
func TestSettleSweepResend(t *testing.T) {
	n := testnet.New(t)
	n.Listen(t, "tcp", ":80")
	p := newInProber(t, n, Config{SourcePorts: [2]uint16{61000, 61063}, Timeout: time.Second})
	e := p.e
	s := e.newSession(false)
	e.mu.Lock()
	e.sweepBatches = newSweepBatches(0, time.Second)
	e.sweeping = newSweepState(s, e.sweepBatches.next, 16, 1)
	old := e.sweepBatches.batch(e.now() - 500e6) // built half a second ago
	e.mu.Unlock()
	b, spare := newSendBatch(4), newSendBatch(4)
	var targets []netip.AddrPort
	for i := range 4 {
		target := netip.AddrPortFrom(netlab.Nth(n.Answering4, 20+i), 80)
		targets = append(targets, target)
		rt, err := e.route(target.Addr())
		if err != nil {
			t.Fatal(err)
		}
		e.fill(b, rt, target, uint16(61000+i), old)
		b.failed = append(b.failed, i)
		b.errs = append(b.errs, map[bool]unix.Errno{true: unix.EPERM, false: unix.ENOBUFS}[i == 3])
	}
	sent := p.Stats().Sent
	e.settleSweep(b, spare, e.scanPkts[0])
	if d := p.Stats().Sent - sent; d != 3 {
		t.Errorf("%d SYNs sent again, want 3 (the ENOBUFS ones)", d)
	}
	deadline := time.Now().Add(2 * time.Second)
	for {
		e.mu.Lock()
		got := slices.Clone(s.results)
		e.mu.Unlock()
		if len(got) == 4 || time.Now().After(deadline) {
			byTarget := map[netip.AddrPort]Result{}
			for _, r := range got {
				byTarget[r.Target] = r
			}
			for i, tg := range targets {
				r, ok := byTarget[tg]
				switch {
				case i == 3 && (!ok || r.State != NoRoute):
					t.Errorf("%v (EPERM): %+v, want NoRoute", tg, r)
				case i < 3 && (!ok || r.State != Open || r.RTT <= 0 || r.RTT > 400*time.Millisecond):
					t.Errorf("%v (ENOBUFS, sent again): %+v, want Open with the RTT of the new SYN, not 500ms", tg, r)
				}
			}
			if len(got) != 4 {
				t.Errorf("%d results, want 4: %+v", len(got), got)
			}
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestSweepBatchBound drives a Sweep's scanner without senders over
// targets of which nine in ten have no route: every target still waiting
// to be passed to the senders was taken among the last SweepBatchSize,
// the bound a caller resuming a Sweep relies on (SweepBatchSize). The
// control: a target without a route counted nowhere would leave a routed
// one waiting for thousands of takes.
func TestSweepBatchBound(t *testing.T) {
	n := testnet.New(t)
	p := newInProber(t, n, Config{Timeout: time.Second})
	e := p.e
	sc := e.newScanner(func(Result) {}, true)
	defer e.endSession(sc.s)
	e.mu.Lock()
	e.sweepBatches = newSweepBatches(0, time.Second)
	e.sweeping = newSweepState(sc.s, e.sweepBatches.next, 16, 1)
	e.mu.Unlock()
	sc.queue, sc.free = make(chan *sendBatch, 64), make(chan *sendBatch, 64)
	for range 64 {
		sc.free <- newSendBatch(SweepBatchSize)
	}
	var takenAt []int // of the targets in sc.targets, when each was taken
	for i := range 4000 {
		target := netip.AddrPortFrom(netip.MustParseAddr("192.0.2.1"), uint16(1+i)) // no route
		if i%10 == 0 {
			target = netip.AddrPortFrom(netlab.Nth(n.Silent4, 1+i%200), uint16(1+i))
		}
		if err := sc.add(context.Background(), target); err != nil {
			t.Fatal(err)
		}
		if i%10 == 0 {
			takenAt = append(takenAt, i)
		}
		takenAt = takenAt[len(takenAt)-len(sc.targets):]
		if len(takenAt) > 0 && i-takenAt[0] >= SweepBatchSize {
			t.Fatalf("after %d targets taken, one taken at %d still waits: more than %d ago", i+1, takenAt[0], SweepBatchSize)
		}
	}
	if len(sc.queue) == 0 {
		t.Fatalf("no batch was passed to the senders")
	}
}
