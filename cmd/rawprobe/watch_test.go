package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"iter"
	"net/netip"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/rawprobe/rawprobe/rawcheck"
)

func TestHealthRiseFall(t *testing.T) {
	// o: open check, x: not open. Transitions are marked where expected
	// with rise 2, fall 3; every target starts up.
	for _, c := range []struct {
		checks string
		want   string // "." none, "D" down, "U" up, per check
	}{
		{"ooooo", "....."},
		{"xxxoo", "..D.U"},
		{"xxoxxxo", ".....D."}, // the open check resets the count
		{"xxxoxoo", "..D...U"}, // so does a failure while rising
		{"xxxxxxoo", "..D....U"},
	} {
		var h health
		var got strings.Builder
		for _, ch := range c.checks {
			switch {
			case !h.check(ch == 'o', 2, 3):
				got.WriteByte('.')
			case h.down:
				got.WriteByte('D')
			default:
				got.WriteByte('U')
			}
		}
		if got.String() != c.want {
			t.Errorf("%s: transitions %s, want %s", c.checks, got.String(), c.want)
		}
	}
}

// scriptEngine answers round i with script[i] ('o' open, 'x' timeout) for
// every target, and cancels the watch after the last round.
type scriptEngine struct {
	script string
	round  int
	cancel context.CancelFunc
}

func (s *scriptEngine) Name() string { return "raw" }
func (s *scriptEngine) Probe(context.Context, netip.AddrPort) (rawcheck.Result, error) {
	panic("not used")
}
func (s *scriptEngine) Scan(ctx context.Context, ts iter.Seq[netip.AddrPort], yield func(rawcheck.Result)) error {
	st := rawcheck.Timeout
	if s.script[s.round] == 'o' {
		st = rawcheck.Open
	}
	for t := range ts {
		yield(rawcheck.Result{Target: t, State: st, Attempts: 1})
	}
	if s.round++; s.round == len(s.script) {
		s.cancel()
	}
	return ctx.Err()
}
func (s *scriptEngine) Stats() rawcheck.Stats { return rawcheck.Stats{} }
func (s *scriptEngine) Close() error          { return nil }

func TestWatchRecords(t *testing.T) {
	for _, jsonl := range []bool{false, true} {
		ctx, cancel := context.WithCancel(context.Background())
		eng := &scriptEngine{script: "ooxxxxoxoo", cancel: cancel}
		p := &watchPlan{targets: []netip.AddrPort{netip.MustParseAddrPort("198.18.0.1:80")}, names: []string{"db:80"},
			interval: time.Millisecond, rise: 2, fall: 3, jsonl: jsonl}
		var out bytes.Buffer
		clock := time.Date(2026, 11, 25, 20, 0, 0, 0, time.UTC)
		e := env{now: func() time.Time { clock = clock.Add(time.Second); return clock }}
		if err := watch(ctx, p, eng, &out, e); err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSpace(out.String()), "\n")
		if len(lines) != 2 {
			t.Fatalf("jsonl %v: %d records, want a down and an up:\n%s", jsonl, len(lines), out.String())
		}
		if !jsonl {
			if !strings.Contains(lines[0], "db:80 up -> down (state timeout, 3 checks)") || !strings.Contains(lines[1], "db:80 down -> up (state open, 2 checks)") {
				t.Errorf("records:\n%s", out.String())
			}
			continue
		}
		var recs [2]struct {
			Target, IP, From, To, State string
			Port, Checks                int
			Time                        time.Time
		}
		for i, l := range lines {
			if err := json.Unmarshal([]byte(l), &recs[i]); err != nil {
				t.Fatal(err)
			}
		}
		if recs[0].From != "up" || recs[0].To != "down" || recs[0].State != "timeout" || recs[0].Checks != 3 || recs[0].IP != "198.18.0.1" || recs[0].Port != 80 ||
			recs[1].To != "up" || recs[1].State != "open" || !recs[1].Time.After(recs[0].Time) {
			t.Errorf("records %+v", recs)
		}
	}
}

func TestWatchBadInput(t *testing.T) {
	for _, args := range [][]string{
		{"watch", "--rise", "0", "198.18.0.1:80"},
		{"watch", "--fall", "-1", "198.18.0.1:80"},
		{"watch", "--format", "csv", "198.18.0.1:80"},
		{"watch", "--interval", "0s", "198.18.0.1:80"},
		{"watch"},
	} {
		if c := runCLI(t, args); c.code != 2 || len(c.opened) != 0 {
			t.Errorf("%q: exit %d, opened %v, stderr %q", args, c.code, c.opened, c.stderr)
		}
	}
}

// BenchmarkWatchRound measures one round of watch over 1,000 targets, a
// tenth of them changing state every few rounds: B/op is what a round
// allocates (garbage, not growth), and retained-B reports the live heap
// after the rounds, which stays flat however many rounds run.
func BenchmarkWatchRound(b *testing.B) {
	ts := make([]netip.AddrPort, 1000)
	names := make([]string, len(ts))
	for i := range ts {
		ts[i] = netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 18, byte(i >> 8), byte(i)}), 80)
		names[i] = ts[i].String()
	}
	script := strings.Repeat("oooxxxx", b.N/7+1)[:max(b.N, 1)]
	ctx, cancel := context.WithCancel(context.Background())
	eng := &scriptEngine{script: script, cancel: cancel}
	p := &watchPlan{targets: ts, names: names, interval: time.Nanosecond, rise: 2, fall: 3, jsonl: true}
	e := env{now: time.Now}
	b.ReportAllocs()
	b.ResetTimer()
	if err := watch(ctx, p, eng, io.Discard, e); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	b.ReportMetric(float64(ms.HeapAlloc), "retained-B")
}
