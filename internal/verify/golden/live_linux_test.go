package golden_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"path/filepath"
	"testing"
	"time"

	"github.com/rawprobe/rawprobe/internal/verify/golden"
	"github.com/rawprobe/rawprobe/internal/verify/golden/record"
	"github.com/rawprobe/rawprobe/internal/verify/pcapcheck"
	"github.com/rawprobe/rawprobe/internal/verify/testnet"
	"github.com/rawprobe/rawprobe/rawcheck"
)

// liveNet returns the golden scenarios by name and a fresh test network
// whose target listens on record.OpenPort and is ready for the scenarios.
func liveNet(t *testing.T) (map[string]golden.Scenario, *testnet.Net, *testnet.Listener) {
	t.Helper()
	goldens := make(map[string]golden.Scenario)
	for _, s := range load(t) {
		goldens[s.Name] = s
	}
	n := testnet.New(t)
	l := n.Listen(t, "tcp", fmt.Sprintf(":%d", record.OpenPort))
	if err := record.WaitReady(n.Net, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	return goldens, n, l
}

// Every scenario, recorded again in a fresh test network, reproduces its
// golden flag sequence (and Record checks the replayed state, the
// pcapcheck verdict, the SYN count and the connections accepted). The
// net.Dial scenario is the negative control: its flow must differ from
// the open-port flow of the probers.
func TestLiveFlagsMatchGolden(t *testing.T) {
	goldens, n, l := liveNet(t)
	dir := t.TempDir()
	for _, d := range record.Defs() {
		t.Run(d.Name, func(t *testing.T) {
			want, ok := goldens[d.Name]
			if !ok {
				t.Fatalf("no golden capture for %s (run make pcaps)", d.Name)
			}
			live, err := record.Record(n.Net, l, d, dir)
			if err != nil {
				t.Fatal(err)
			}
			if !golden.FlagsMatch(live.Flags, want.Flags, want.Match) {
				t.Errorf("live flags %q, golden %q (%s match)", live.Flags, want.Flags, want.Match)
			}
			if d.Engine == golden.EngineDial && golden.FlagsMatch(live.Flags, ">S <SA >R", "exact") {
				t.Errorf("net.Dial's flow %q looks like a half-open probe", live.Flags)
			}
		})
	}
}

// rawcheck itself, probing the targets of the raw scenarios in a fresh
// test network with long-lived Probers (one per SYN count, a random cookie
// key each, not one Prober per scenario as make pcaps uses), reports each
// golden state and puts the golden flag sequence on the wire. pcapcheck
// passes every flow and the target accepts nothing.
func TestLiveRawcheckMatchesGolden(t *testing.T) {
	goldens, n, l := liveNet(t)
	accepted := l.Accepted()
	// One prober per SYN count of the scenarios, each on its own port.
	probers := make(map[int]*rawcheck.Prober)
	ports := map[int]uint16{1: 62001, 3: 62003}
	for syns, port := range ports {
		err := n.InProber(func() error {
			p, err := rawcheck.New(rawcheck.Config{SourcePorts: [2]uint16{port, port}, Timeout: 300 * time.Millisecond, Attempts: syns})
			probers[syns] = p
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { probers[syns].Close() })
	}
	for _, d := range record.Defs() {
		if d.Engine != golden.EngineRaw {
			continue
		}
		t.Run(d.Name, func(t *testing.T) {
			want := goldens[d.Name]
			p, ok := probers[want.SYNs]
			if !ok {
				t.Fatalf("no prober for %d SYNs", want.SYNs)
			}
			target := d.Target(record.PrefixesOf(n.Net))
			src := n.ProberAddr4
			if target.Addr().Is6() {
				src = n.ProberAddr6
			}
			prober := netip.AddrPortFrom(src, ports[want.SYNs])
			path := filepath.Join(t.TempDir(), d.Name+".pcap")
			c, err := record.StartCapture(n.Net, path)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			type probed struct {
				r   rawcheck.Result
				err error
			}
			done := make(chan probed, 1)
			go func() {
				r, err := p.Probe(ctx, target)
				done <- probed{r, err}
			}()
			if d.Forge {
				time.Sleep(50 * time.Millisecond)
				if err := record.ForgeSYNACK(n.Net, target, prober, rand.Uint32()); err != nil {
					t.Error(err)
				}
			}
			res := <-done
			if err := c.Stop(); err != nil {
				t.Fatal(err)
			}
			if res.err != nil {
				t.Fatal(res.err)
			}
			if res.r.State != rawcheck.State(want.State) {
				t.Errorf("rawcheck state %v, golden %s", res.r.State, want.State)
			}
			frames, err := golden.ReadFrames(path)
			if err != nil {
				t.Fatal(err)
			}
			if got := golden.FlagSequence(frames, prober, target); !golden.FlagsMatch(got, want.Flags, want.Match) {
				t.Errorf("rawcheck's flags %q, golden %q", got, want.Flags)
			}
			rep, err := pcapcheck.AnalyzeFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if err := rep.Err(); err != nil {
				t.Error(err)
			}
		})
	}
	if got := l.Accepted(); got != accepted {
		t.Errorf("the target accepted %d connections from rawcheck, want 0", got-accepted)
	}
}

// Captures recorded now carry a random nonce per probe: make pcaps's
// recorder writes it into the scenario, and the capture replays to the
// scenario's state with it (and not with nonce 0, the negative control).
func TestRecordedNonceReplays(t *testing.T) {
	n := testnet.New(t)
	l := n.Listen(t, "tcp", fmt.Sprintf(":%d", record.OpenPort))
	if err := record.WaitReady(n.Net, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	recorded := 0
	for _, d := range record.Defs() {
		if d.Engine != golden.EngineRaw || (d.Name != "ipv4-open" && d.Name != "ipv6-closed") {
			continue
		}
		s, err := record.Record(n.Net, l, d, dir)
		if err != nil {
			t.Fatal(err)
		}
		recorded++
		if s.Nonce == 0 {
			t.Errorf("%s: recorded without a nonce", s.Name)
		}
		back, err := golden.Load(dir)
		if err != nil {
			t.Fatal(err)
		}
		var again golden.Scenario
		for _, b := range back {
			if b.Name == s.Name {
				again = b
			}
		}
		o, err := golden.Replay(again, dir)
		if err != nil {
			t.Fatal(err)
		}
		if o.State != s.State || o.Valid != 1 {
			t.Errorf("%s: replay %s with %d valid replies, want %s with 1", s.Name, o.State, o.Valid, s.State)
		}
		again.Nonce = 0
		if _, err := golden.Replay(again, dir); err == nil {
			t.Errorf("%s: replay with nonce 0 accepted", s.Name)
		}
	}
	if recorded != 2 {
		t.Fatalf("%d scenarios recorded, want 2", recorded)
	}
}
