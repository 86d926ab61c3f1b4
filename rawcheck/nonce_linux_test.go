package rawcheck

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/rawprobe/rawprobe/internal/verify/netlab"
	"github.com/rawprobe/rawprobe/internal/verify/testnet"
	"github.com/rawprobe/rawprobe/synack"
)

// pendingNonce returns the nonce of the pending probe of target from
// sport.
func pendingNonce(p *Prober, target netip.AddrPort, sport uint16) (uint32, bool) {
	p.e.mu.Lock()
	defer p.e.mu.Unlock()
	i := p.e.table.lookup(keyOf(target, sport))
	if i == 0 {
		return 0, false
	}
	return p.e.table.at(i).nonce, true
}

// wait returns the sequence numbers of the first n SYNs, failing after 5 s.
func (s *seqTap) wait(t *testing.T, n int) []uint32 {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(2 * time.Millisecond) {
		if seqs := s.all(); len(seqs) >= n {
			return seqs[:n]
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d SYNs sent, want %d", len(s.all()), n)
		}
	}
}

// TestReplayedSYNACKOfEarlierProbe is the replay proof: a SYN-ACK made from
// the captured SYN of probe 1 makes probe 1 open, but injected again
// (twice) during probe 2 of the same target from the same source port it
// gives no result and probe 2 times out. The first replay counts as a late
// reply to probe 1 (which a duplicate from the target would be too), the
// second as invalid. Probe 2's retransmission keeps probe 2's sequence
// number. The positive control: a SYN-ACK made from probe 3's own SYN,
// sent after its retransmission, makes it open.
func TestReplayedSYNACKOfEarlierProbe(t *testing.T) {
	n := testnet.New(t)
	const sport = 61510
	tap := &seqTap{}
	p := newInProber(t, n, Config{SourcePorts: [2]uint16{sport, sport}, Timeout: 300 * time.Millisecond, Attempts: 2, Tap: tap})
	target := netip.AddrPortFrom(netlab.Nth(n.Silent4, 40), 80)
	prober := netip.AddrPortFrom(n.ProberAddr4, sport)
	inject := func(seq uint32) {
		t.Helper()
		err := n.InTarget(func() error {
			fd, err := unix.Socket(unix.AF_INET, unix.SOCK_RAW, unix.IPPROTO_RAW)
			if err != nil {
				return err
			}
			defer unix.Close(fd)
			return unix.Sendto(fd, forgedReply(target, prober, synack.FlagSYN|synack.FlagACK, 7, seq+1), 0, &unix.SockaddrInet4{Addr: prober.Addr().As4()})
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	probe := func() <-chan Result {
		ch := make(chan Result, 1)
		go func() {
			r, err := p.Probe(context.Background(), target)
			if err != nil {
				t.Error(err)
			}
			ch <- r
		}()
		return ch
	}

	// Probe 1: answered by a SYN-ACK made from its captured SYN.
	first := probe()
	seq1 := tap.wait(t, 1)[0]
	inject(seq1)
	if r := <-first; r.State != Open || r.Attempts != 1 {
		t.Fatalf("probe 1: %+v, want open after 1 attempt", r)
	}

	// Probe 2: the recorded SYN-ACK replayed after each of its SYNs.
	second := probe()
	tap.wait(t, 2)
	inject(seq1)
	seqs := tap.wait(t, 3)
	inject(seq1)
	if r := <-second; r.State != Timeout || r.Attempts != 2 {
		t.Errorf("probe 2 with probe 1's SYN-ACK replayed: %+v, want timeout after 2 attempts", r)
	}
	if seqs[1] == seq1 {
		t.Errorf("probe 2's SYN has probe 1's sequence number %#x", seq1)
	}
	if seqs[2] != seqs[1] {
		t.Errorf("probe 2's retransmission has seq %#x, its first SYN %#x: want the same", seqs[2], seqs[1])
	}
	st := p.Stats()
	if st.Late != 1 || st.Invalid != 1 || st.Open != 1 || st.Timeouts != 1 {
		t.Errorf("stats %+v: want 1 late and 1 invalid (the replays), 1 open, 1 timeout", st)
	}

	// Positive control, probe 3: its own first SYN answered after its
	// retransmission, a late answer to attempt 1 that still counts.
	third := probe()
	seq3 := tap.wait(t, 4)[3]
	tap.wait(t, 5)
	inject(seq3)
	if r := <-third; r.State != Open || r.Attempts != 2 {
		t.Errorf("probe 3 answered from its own SYN: %+v, want open after 2 attempts", r)
	}
	// After probe 3 ended, its SYN-ACK again is late, not invalid.
	inject(seq3)
	for deadline := time.Now().Add(2 * time.Second); p.Stats().Late < 2 && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
	if st := p.Stats(); st.Late != 2 || st.Invalid != 1 || st.Open != 2 {
		t.Errorf("stats %+v after probe 3's SYN-ACK came twice: want 2 late, still 1 invalid, 2 open", st)
	}
}

// TestEndSessionRemembersPendingProbes: a Scan or a Probe that ends with
// probes still pending remembers their nonces, as a probe that finishes
// does, so that a reply still coming is late and not invalid. Negative
// control: the pending probe of another session is neither removed nor
// remembered.
func TestEndSessionRemembersPendingProbes(t *testing.T) {
	nonces, err := newNonceSource(16)
	if err != nil {
		t.Fatal(err)
	}
	e := &engine{
		table:  newPendingTable(16, 1),
		nonces: nonces,
		timing: newTiming(time.Second, DefaultAttempts, DefaultAttemptCeiling, 1),
		ports:  &portReservation{ports: []uint16{61000}},
	}
	rt := &route{}
	insert := func(s *session, target netip.AddrPort) (probeKey, uint32) {
		t.Helper()
		e.mu.Lock()
		defer e.mu.Unlock()
		sport, nonce, ok := e.insertLocked(target, rt, s, 0)
		if !ok {
			t.Fatalf("insert %v: no free port", target)
		}
		return keyOf(target, sport), nonce
	}
	target := func(i int) netip.AddrPort {
		return netip.AddrPortFrom(netip.AddrFrom4([4]byte{192, 0, 2, byte(i)}), 80)
	}

	other := e.newSession(true)
	otherKey, _ := insert(other, target(100))
	for _, probe := range []bool{false, true} {
		s := e.newSession(probe)
		n := 3
		if probe {
			n = 1
		}
		keys := make([]probeKey, n)
		want := make([]uint32, n)
		for i := range n {
			keys[i], want[i] = insert(s, target(10*len(e.sessions)+i))
		}
		e.endSession(s)
		e.mu.Lock()
		for i, k := range keys {
			if got := e.nonces.remembered(&k); got != want[i] || !e.nonces.late(&k, want[i]) {
				t.Errorf("probe=%v: %v after its session ended: remembered nonce %#x, want %#x counted late", probe, k.target(), got, want[i])
			}
		}
		e.mu.Unlock()
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.table.len() != 1 || e.table.lookup(otherKey) == 0 || e.nonces.remembered(&otherKey) != 0 {
		t.Errorf("the other session's probe: pending %d (want 1), remembered %#x (want 0)", e.table.len(), e.nonces.remembered(&otherKey))
	}
}
