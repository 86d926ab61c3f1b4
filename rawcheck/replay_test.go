//go:build linux

package rawcheck

import (
	"testing"
	"time"

	"golang.org/x/net/bpf"

	"github.com/rawprobe/rawprobe/internal/verify/golden"
	"github.com/rawprobe/rawprobe/internal/verify/pcapcheck"
	"github.com/rawprobe/rawprobe/synack"
)

// goldenPcaps is where `make pcaps` writes the golden captures.
const goldenPcaps = "../testdata/pcaps"

// replayOutcome is what the engine's receive path made of a capture.
type replayOutcome struct {
	result   Result
	finished bool // false: the probe is still pending (a timeout to be)
	fed      int  // frames that passed the listener's filter
	stats    Stats
}

// replay feeds the frames of scenario s that the engine's listener would
// see (incoming, passing its BPF filter, as SOCK_DGRAM delivers them: from
// the IP header on) to a receiver of an engine with the scenario's cookie
// key and one pending probe: s.Prober's port to s.Target, with the
// scenario's nonce.
func replay(t *testing.T, s golden.Scenario, key synack.CookieKey) replayOutcome {
	t.Helper()
	frames, err := golden.ReadFrames(s.PcapPath(goldenPcaps))
	if err != nil {
		t.Fatal(err)
	}
	sport := s.Prober.Port()
	prog, err := synack.Filter(synack.LinkIP, sport, sport)
	if err != nil {
		t.Fatal(err)
	}
	vm, err := bpf.NewVM(prog)
	if err != nil {
		t.Fatal(err)
	}
	nonces, err := newNonceSource(16)
	if err != nil {
		t.Fatal(err)
	}
	e := &engine{key: key, epoch: time.Now(), table: newPendingTable(16, 1), nonces: nonces, timing: newTiming(time.Second, 0, DefaultAttemptCeiling, 1)}
	sess := e.newSession(true)
	e.mu.Lock()
	i := e.table.insert(keyOf(s.Target, sport), sess.id, 0, e.now(), 0)
	if i == 0 {
		t.Fatal("insert of the probe failed")
	}
	e.table.at(i).nonce = s.Nonce // the recorded probe's nonce
	sess.inflight++
	e.mu.Unlock()

	rv := newReceiver(e)
	var o replayOutcome
	for _, f := range frames {
		ip := f.Data[14:] // Ethernet header off, as SOCK_DGRAM delivers
		if !toProber(ip, s) {
			continue // outgoing: the listener ignores it
		}
		if n, err := vm.Run(ip); err != nil || n == 0 {
			continue
		}
		o.fed++
		rv.frame(ip, f.Time.UnixNano())
	}
	rv.flush()
	o.stats = e.stats()
	select {
	case o.result = <-sess.probe:
		o.finished = true
	default:
	}
	return o
}

// toProber reports whether an IP packet is addressed to the scenario's
// prober address.
func toProber(ip []byte, s golden.Scenario) bool {
	a := s.Prober.Addr()
	switch {
	case a.Is4() && len(ip) >= 20 && ip[0]>>4 == 4:
		return [4]byte(ip[16:20]) == a.As4()
	case a.Is6() && len(ip) >= 40 && ip[0]>>4 == 6:
		return [16]byte(ip[24:40]) == a.As16()
	}
	return false
}

// The replies of every raw golden capture, fed to rawcheck's receiver and
// pending table with the recorded cookie key, finish the probe with the
// scenario's state (or leave it pending for a timeout), and the forged
// SYN-ACK is counted invalid.
func TestReplayGoldenCaptures(t *testing.T) {
	all, err := golden.Load(goldenPcaps)
	if err != nil {
		t.Fatal(err)
	}
	raw := 0
	for _, s := range all {
		if s.Engine != golden.EngineRaw {
			continue
		}
		raw++
		t.Run(s.Name, func(t *testing.T) {
			o := replay(t, s, s.Key)
			got := "timeout"
			if o.finished {
				got = o.result.State.String()
			}
			if got != s.State.String() {
				t.Fatalf("state %s, want %s (fed %d frames, stats %+v)", got, s.State, o.fed, o.stats)
			}
			wantInvalid := uint64(0)
			if s.Reply != pcapcheck.NoReply && !s.Valid {
				wantInvalid = 1
			}
			if o.stats.Invalid != wantInvalid {
				t.Errorf("Invalid = %d, want %d", o.stats.Invalid, wantInvalid)
			}
			if s.Reply == pcapcheck.NoReply && o.fed != 0 {
				t.Errorf("%d frames reached the receiver of a silent target", o.fed)
			}
			if !o.finished {
				return
			}
			r := o.result
			if r.Target != s.Target || r.Attempts != 1 || r.TTL == 0 {
				t.Errorf("result %+v: want target %v, 1 attempt, a TTL", r, s.Target)
			}
			if s.State == golden.StateUnreachable && (r.ICMPType != 3 || r.ICMPCode != 1) {
				t.Errorf("ICMP %d/%d, want 3/1 (host unreachable)", r.ICMPType, r.ICMPCode)
			}
			if o.stats.Received != 1 || o.stats.Late != 0 {
				t.Errorf("stats %+v: want 1 received, 0 late", o.stats)
			}
		})
	}
	if raw < 7 {
		t.Fatalf("%d raw scenarios in %s, want 7 (run make pcaps)", raw, goldenPcaps)
	}
}

// Negative control: with another cookie key the open port's SYN-ACK is
// invalid and the probe stays pending.
func TestReplayGoldenWrongKey(t *testing.T) {
	all, err := golden.Load(goldenPcaps)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range all {
		if s.Name != "ipv4-open" {
			continue
		}
		key := s.Key
		key.K1++
		o := replay(t, s, key)
		if o.finished || o.stats.Invalid != 1 || o.fed != 1 {
			t.Fatalf("wrong key: finished %v (%+v), fed %d, stats %+v; want pending, 1 fed, 1 invalid", o.finished, o.result, o.fed, o.stats)
		}
		return
	}
	t.Fatal("no ipv4-open scenario")
}
