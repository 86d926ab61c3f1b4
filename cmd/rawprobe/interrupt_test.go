package main

import (
	"context"
	"encoding/json"
	"fmt"
	"iter"
	"maps"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rawprobe/rawprobe/internal/cli/engine"
	"github.com/rawprobe/rawprobe/rawcheck"
)

// outOfOrderEngine keeps up to window probes in flight and completes a
// random one of them whenever the window is full, so results come out of
// order. After the target sequence ends it completes half of those left
// at once and the rest 500ms later, as timeouts, unless ctx ends first
// (their results are then lost, as a cut-off drain loses them). interrupt
// is called after each result with the number of results so far.
type outOfOrderEngine struct {
	fakeEngine
	window    int
	rng       *rand.Rand
	interrupt func(n int)
	n         int
}

func (f *outOfOrderEngine) Scan(ctx context.Context, ts iter.Seq[netip.AddrPort], yield func(rawcheck.Result)) error {
	var flight []netip.AddrPort
	complete := func() {
		i := f.rng.IntN(len(flight))
		t := flight[i]
		flight = append(flight[:i], flight[i+1:]...)
		r, _ := fakeResult(t)
		yield(r)
		f.n++
		f.interrupt(f.n)
	}
	for t := range ts {
		if err := ctx.Err(); err != nil {
			return err
		}
		flight = append(flight, t)
		if len(flight) == f.window {
			complete()
		}
	}
	for left := len(flight) / 2; len(flight) > left; {
		complete()
	}
	if len(flight) == 0 {
		return nil
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(500 * time.Millisecond):
	}
	for _, t := range flight {
		yield(rawcheck.Result{Target: t, State: rawcheck.Timeout, Attempts: 3})
	}
	return nil
}

// withSignalAfter runs the command on an outOfOrderEngine that receives
// sig (and a second signal if twice) after n results.
func withSignalAfter(seed uint64, n int, sig os.Signal, twice bool) runOpt {
	return func(e *env, c *cli) {
		signals := make(chan os.Signal, 2)
		e.signals = signals
		eng := &outOfOrderEngine{window: 64, rng: rand.New(rand.NewPCG(seed, 1)), interrupt: func(got int) {
			if got == n {
				signals <- sig
				if twice {
					signals <- sig
				}
				// Let the command's signal watcher run before the next
				// target is taken, as a real signal would be seen.
				time.Sleep(50 * time.Millisecond)
			}
		}}
		e.openEngine = func(name string, _ engine.Config) (engine.Engine, string, error) {
			c.opened = append(c.opened, name)
			return eng, "", nil
		}
	}
}

// readJSONLTargets returns how often each target appears in a JSONL file.
func readJSONLTargets(t *testing.T, path string) map[string]int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for line := range strings.Lines(string(b)) {
		var rec struct{ Target string }
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("%s: %q: %v", path, line, err)
		}
		seen[rec.Target]++
	}
	return seen
}

// TestInterruptResume interrupts a scan of 4,096 targets with results
// arriving out of order, twice (SIGINT, then SIGTERM with a second signal
// cutting the drain short), and resumes it until complete: each run's exit
// status is 130, 143, then 1; the hint names seed, shard and position; the
// -o file, appended to, holds every target exactly once; the csv has one
// header; -oG is appended to, -oX's resumed documents are FILE.1 and
// FILE.2; the state file is gone at the end.
func TestInterruptResume(t *testing.T) {
	for _, format := range []string{"jsonl", "csv"} {
		t.Run(format, func(t *testing.T) {
			dir := t.TempDir()
			out := filepath.Join(dir, "results."+format)
			xml := filepath.Join(dir, "scan.xml")
			gnmap := filepath.Join(dir, "scan.gnmap")
			state := out + ".resume"
			args := []string{"--format", format, "-o", out, "-oX", xml, "-oG", gnmap, "--timeout", "50ms", "-p", "1-16", "198.18.0.0/24"}

			c := runCLI(t, args, withSignalAfter(1, 700, os.Interrupt, false))
			if c.code != exitSIGINT || !strings.Contains(c.stderr, "interrupted by SIGINT: seed ") || !strings.Contains(c.stderr, "shard 1/1, position ") || !strings.Contains(c.stderr, "rawprobe --resume "+state) {
				t.Fatalf("first run: exit %d\n%s", c.code, c.stderr)
			}
			if _, err := os.Stat(state); err != nil {
				t.Fatal(err)
			}
			c = runCLI(t, []string{"--resume", state}, withSignalAfter(2, 600, syscall.SIGTERM, true))
			if c.code != exitSIGTERM || !strings.Contains(c.stderr, "interrupted by SIGTERM") {
				t.Fatalf("second run: exit %d\n%s", c.code, c.stderr)
			}
			c = runCLI(t, []string{"--resume", state}, withSignalAfter(3, -1, nil, false))
			if c.code != exitNotAllOpen {
				t.Fatalf("third run: exit %d\n%s", c.code, c.stderr)
			}
			if _, err := os.Stat(state); !os.IsNotExist(err) {
				t.Errorf("state file after the completed resume: %v", err)
			}

			seen := map[string]int{}
			if format == "jsonl" {
				seen = readJSONLTargets(t, out)
			} else {
				b, _ := os.ReadFile(out)
				lines := strings.Split(strings.TrimSpace(string(b)), "\n")
				if !strings.HasPrefix(lines[0], "target,") || strings.Count(string(b), "target,ip,") != 1 {
					t.Errorf("csv: want one header line first")
				}
				for _, l := range lines[1:] {
					seen[strings.Split(l, ",")[0]]++
				}
			}
			checkEachOnce(t, seen, 256*16)
			for _, n := range []string{xml, xml + ".1", xml + ".2"} {
				if b, err := os.ReadFile(n); err != nil || !strings.Contains(string(b), "</nmaprun>") {
					t.Errorf("%s: %v, a whole document: %v", n, err, err == nil && strings.Contains(string(b), "</nmaprun>"))
				}
			}
			if b, _ := os.ReadFile(gnmap); strings.Count(string(b), "# Nmap done") != 3 {
				t.Errorf("-oG: want three runs' lines appended, got:\n%.600s", b)
			}
		})
	}
}

// checkEachOnce fails unless seen holds want targets, each once.
func checkEachOnce(t *testing.T, seen map[string]int, want int) {
	t.Helper()
	dups := 0
	for _, n := range seen {
		if n != 1 {
			dups++
		}
	}
	if len(seen) != want || dups != 0 {
		t.Errorf("outputs together: %d distinct targets (want %d), %d more than once", len(seen), want, dups)
	}
}

// TestInterruptWithoutResumeLosesTargets is the negative control of
// TestInterruptResume: the interrupted run alone misses targets, and
// running the same command again (not --resume) repeats some.
func TestInterruptWithoutResumeLosesTargets(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "a.jsonl")
	args := []string{"--format", "jsonl", "-o", out, "--seed", "7", "--timeout", "50ms", "-p", "1-16", "198.18.0.0/24"}
	if c := runCLI(t, args, withSignalAfter(1, 900, os.Interrupt, false)); c.code != exitSIGINT {
		t.Fatalf("exit %d\n%s", c.code, c.stderr)
	}
	first := readJSONLTargets(t, out)
	if len(first) >= 4096 || len(first) < 900 {
		t.Fatalf("interrupted run wrote %d targets", len(first))
	}
	out2 := filepath.Join(dir, "b.jsonl")
	if c := runCLI(t, append(args[:3:3], append([]string{out2}, args[4:]...)...), withSignalAfter(1, -1, nil, false)); c.code != exitNotAllOpen {
		t.Fatalf("rerun: exit %d\n%s", c.code, c.stderr)
	}
	second := readJSONLTargets(t, out2)
	both := 0
	for k := range first {
		if second[k] > 0 {
			both++
		}
	}
	if both == 0 {
		t.Errorf("a rerun without --resume repeats no target: the control cannot tell resumption from a rerun")
	}
}

// TestResumeRefusesOtherTargets: a state whose targets or seed do not
// match the command line is refused as bad input, and nothing is opened.
func TestResumeRefusesOtherTargets(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "r.jsonl")
	if c := runCLI(t, []string{"--format", "jsonl", "-o", out, "-p", "1-16", "198.18.0.0/24"}, withSignalAfter(1, 100, os.Interrupt, false)); c.code != exitSIGINT {
		t.Fatalf("exit %d\n%s", c.code, c.stderr)
	}
	state := out + ".resume"
	st, err := readResumeState(state)
	if err != nil {
		t.Fatal(err)
	}
	st.Args[len(st.Args)-1] = "198.18.1.0/24"
	if err := writeResumeState(state, st); err != nil {
		t.Fatal(err)
	}
	c := runCLI(t, []string{"--resume", state})
	if c.code != exitBadInput || !strings.Contains(c.stderr, "not those of the interrupted scan") || len(c.opened) != 0 {
		t.Errorf("changed targets: exit %d, engines %v\n%s", c.code, c.opened, c.stderr)
	}
	c = runCLI(t, []string{"--resume", state, "--seed", "3"})
	if c.code != exitBadInput || !strings.Contains(c.stderr, "takes no other flag") {
		t.Errorf("--resume with a flag: exit %d\n%s", c.code, c.stderr)
	}
}

// TestOutputsUntouchedWhenEngineFails: an engine that cannot open leaves
// existing -o, -oX, -oG, --stats-file and --pcap files byte-identical; the
// control (the engine opens) replaces them.
func TestOutputsUntouchedWhenEngineFails(t *testing.T) {
	dir := t.TempDir()
	names := map[string]string{"-o": "r.txt", "-oX": "s.xml", "-oG": "s.gnmap", "--stats-file": "st.json", "--pcap": "p.pcap"}
	var args []string
	for flag, n := range names {
		p := filepath.Join(dir, n)
		if err := os.WriteFile(p, []byte("yesterday's "+n+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		args = append(args, flag, p)
	}
	args = append(args, "198.18.0.1:80")
	c := runCLI(t, args, withOpenError(fmt.Errorf("rawcheck: need CAP_NET_RAW: %w", os.ErrPermission)))
	if c.code != exitRuntime {
		t.Fatalf("exit %d\n%s", c.code, c.stderr)
	}
	for _, n := range names {
		if b, _ := os.ReadFile(filepath.Join(dir, n)); string(b) != "yesterday's "+n+"\n" {
			t.Errorf("%s changed by a run whose engine failed: %q", n, b)
		}
	}
	c = runCLI(t, args)
	if c.code != exitAllOpen {
		t.Fatalf("control: exit %d\n%s", c.code, c.stderr)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "r.txt")); strings.Contains(string(b), "yesterday") {
		t.Errorf("control: -o not replaced: %q", b)
	}
}

// TestOutputSymlinkRefusedAsRoot: as root an -o that is a symbolic link
// is refused (exit 2, the link's target untouched); a new file is created
// with mode 0644.
func TestOutputSymlinkRefusedAsRoot(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("the refusal applies to root only; this test runs as another user")
	}
	dir := t.TempDir()
	victim := filepath.Join(dir, "victim")
	if err := os.WriteFile(victim, []byte("precious\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "out.txt")
	if err := os.Symlink(victim, link); err != nil {
		t.Fatal(err)
	}
	c := runCLI(t, []string{"-o", link, "198.18.0.1:80"})
	if c.code != exitBadInput || !strings.Contains(c.stderr, "symbolic link") {
		t.Errorf("symlinked -o: exit %d\n%s", c.code, c.stderr)
	}
	if b, _ := os.ReadFile(victim); string(b) != "precious\n" {
		t.Errorf("the link's target was written: %q", b)
	}
	fresh := filepath.Join(dir, "fresh.txt")
	c = runCLI(t, []string{"-o", fresh, "198.18.0.1:80"})
	fi, err := os.Stat(fresh)
	if c.code != exitAllOpen || err != nil || fi.Mode().Perm() != 0o644 {
		t.Errorf("new -o: exit %d, %v, mode %v, want 0644\n%s", c.code, err, fi.Mode(), c.stderr)
	}
}

// TestBadInterfaceIsBadInput: an --interface that does not exist exits 2
// before any engine or file is opened.
func TestBadInterfaceIsBadInput(t *testing.T) {
	out := filepath.Join(t.TempDir(), "r.txt")
	c := runCLI(t, []string{"--interface", "rp-no-such-if0", "-o", out, "198.18.0.1:80"})
	if c.code != exitBadInput || !strings.Contains(c.stderr, `--interface "rp-no-such-if0"`) || len(c.opened) != 0 {
		t.Errorf("exit %d, engines %v\n%s", c.code, c.opened, c.stderr)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("-o created: %v", err)
	}
	if c := runCLI(t, []string{"--interface", "lo", "198.18.0.1:80"}); c.code != exitAllOpen {
		t.Errorf("control --interface lo: exit %d\n%s", c.code, c.stderr)
	}
}

// fakeSweeper is a Sweeper over fakeResult: it sends the targets it takes
// in batches, recording them in sent and yielding the results that are
// answers (not Timeout), and calls afterSent with the count taken so far.
// It waits cooldown after its last batch, as rawcheck waits one timeout.
// With stuckFlush, its last batch is never sent: it waits for the end of
// ctx, as a rate limiter's wait cut off by the command's grace would.
type fakeSweeper struct {
	fakeEngine
	sent       *[]netip.AddrPort
	afterSent  func(n int)
	stuckFlush bool
	cooldown   time.Duration
}

func (f *fakeSweeper) Sweep(ctx context.Context, ts iter.Seq[netip.AddrPort], yield func(rawcheck.Result)) error {
	n := 0
	var batch []netip.AddrPort // taken, sent by rawcheck.SweepBatchSize as rawcheck does
	send := func() {
		for _, t := range batch {
			*f.sent = append(*f.sent, t)
			if r, err := fakeResult(t); err == nil && r.State != rawcheck.Timeout {
				yield(r)
			}
		}
		batch = batch[:0]
	}
	for t := range ts {
		if err := ctx.Err(); err != nil {
			return err
		}
		batch = append(batch, t)
		if len(batch) == rawcheck.SweepBatchSize {
			send()
		}
		n++
		f.afterSent(n)
	}
	if f.stuckFlush { // the last batch waits (for tokens, say) until cut off
		<-ctx.Done()
		return ctx.Err()
	}
	send()
	// rawcheck's cooldown: one timeout for the last answers.
	select {
	case <-time.After(f.cooldown):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// TestSweepInterruptResume interrupts a sweep of 4,096 targets after 700
// were taken, resumes it, and checks that every target was sent over the
// two runs, and that the -o file holds exactly the targets that answered,
// each once, and no silent one. With the first run's last batch never sent
// (cut off by the grace), those targets are sent by the resumed run: a
// target is counted done only once its SYN has left, so at most
// rawcheck.SweepBatchSize targets are sent twice; and not one when the
// interrupted run drained in time, its wait of one timeout (--timeout
// 50ms) for the last answers included.
func TestSweepInterruptResume(t *testing.T) {
	for _, stuck := range []bool{false, true} {
		t.Run(fmt.Sprint("stuck=", stuck), func(t *testing.T) {
			dir := t.TempDir()
			out := filepath.Join(dir, "results.jsonl")
			state := out + ".resume"
			var sent []netip.AddrPort
			sweeper := func(after int, stuck bool) runOpt {
				return func(e *env, c *cli) {
					signals := make(chan os.Signal, 1)
					e.signals = signals
					f := &fakeSweeper{sent: &sent, stuckFlush: stuck, cooldown: 50 * time.Millisecond, afterSent: func(n int) {
						if n == after {
							signals <- os.Interrupt
							time.Sleep(50 * time.Millisecond) // as a real signal would be seen
						}
					}}
					e.openEngine = func(name string, _ engine.Config) (engine.Engine, string, error) {
						c.opened = append(c.opened, name)
						return f, "", nil
					}
				}
			}
			c := runCLI(t, []string{"--sweep", "--format", "jsonl", "-o", out, "--timeout", "50ms", "-p", "1-16", "198.18.0.0/24"}, sweeper(700, stuck))
			if c.code != exitSIGINT || !strings.Contains(c.stderr, "rawprobe --resume "+state) {
				t.Fatalf("first run: exit %d\n%s", c.code, c.stderr)
			}
			first := len(sent)
			c = runCLI(t, []string{"--resume", state}, sweeper(-1, false))
			if c.code != exitNotAllOpen || !strings.Contains(c.stderr, "swept ") {
				t.Fatalf("resumed run: exit %d\n%s", c.code, c.stderr)
			}
			each := map[string]int{}
			twice := 0
			for _, tg := range sent {
				if each[tg.String()]++; each[tg.String()] == 2 {
					twice++
				}
			}
			if len(each) != 256*16 || (!stuck && twice != 0) || twice > rawcheck.SweepBatchSize {
				t.Errorf("first run sent %d; together %d distinct targets of %d, %d sent twice (want 0 without a stuck batch, at most %d with)",
					first, len(each), 256*16, twice, rawcheck.SweepBatchSize)
			}
			want := map[string]int{}
			for tg := range each {
				if r, err := fakeResult(netip.MustParseAddrPort(tg)); err == nil && r.State != rawcheck.Timeout {
					want[tg] = 1
				}
			}
			got := readJSONLTargets(t, out)
			if stuck {
				for tg := range got {
					got[tg] = 1 // a target sent twice may have answered twice
				}
			}
			if !maps.Equal(got, want) {
				t.Errorf("-o holds %d targets, want the %d that answered", len(got), len(want))
			}
		})
	}
}
