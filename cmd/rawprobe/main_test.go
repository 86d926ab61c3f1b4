package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"iter"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rawprobe/rawprobe/internal/cli/engine"
	"github.com/rawprobe/rawprobe/rawcheck"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// fakeEngine answers by the last byte of the address modulo 4: 1 open,
// 2 closed, 3 timeout, 0 unreachable; 250 is a scan failure (a runtime
// error of the engine; an unroutable target is not one: see
// TestScanNamespaceNoRoute). An address in TEST-NET-1 (192.0.2.0/24) has
// no route: NoRoute, nothing sent. It yields in target order.
type fakeEngine struct {
	mu     sync.Mutex
	probed []netip.AddrPort
}

func fakeResult(t netip.AddrPort) (rawcheck.Result, error) {
	b := t.Addr().AsSlice()
	r := rawcheck.Result{Target: t, Attempts: 1, TTL: 64}
	last := b[len(b)-1]
	if last == 250 {
		return r, fmt.Errorf("probing %v: sendmmsg: operation not permitted", t)
	}
	if testNet1.Contains(t.Addr()) {
		return rawcheck.Result{Target: t, State: rawcheck.NoRoute}, nil
	}
	switch last % 4 {
	case 1:
		r.State, r.RTT = rawcheck.Open, 1200*time.Microsecond
	case 2:
		r.State, r.RTT = rawcheck.Closed, 300*time.Microsecond
	case 3:
		r.State, r.Attempts, r.TTL = rawcheck.Timeout, 3, 0
	default:
		r.State, r.RTT, r.ICMPType, r.ICMPCode, r.TTL = rawcheck.Unreachable, 2*time.Millisecond, 3, 1, 63
	}
	return r, nil
}

// testNet1 is the prefix fakeEngine has no route to.
var testNet1 = netip.MustParsePrefix("192.0.2.0/24")

func (f *fakeEngine) Name() string { return "raw" }
func (f *fakeEngine) Probe(_ context.Context, t netip.AddrPort) (rawcheck.Result, error) {
	f.mu.Lock()
	f.probed = append(f.probed, t)
	f.mu.Unlock()
	return fakeResult(t)
}
func (f *fakeEngine) Scan(ctx context.Context, ts iter.Seq[netip.AddrPort], yield func(rawcheck.Result)) error {
	for t := range ts {
		if err := ctx.Err(); err != nil {
			return err
		}
		r, err := f.Probe(ctx, t)
		if err != nil {
			return err
		}
		yield(r)
	}
	return nil
}
func (f *fakeEngine) Stats() rawcheck.Stats {
	f.mu.Lock()
	defer f.mu.Unlock()
	return rawcheck.Stats{Sent: uint64(len(f.probed)), Invalid: 2}
}
func (f *fakeEngine) Close() error { return nil }

type fakeResolver map[string][]netip.Addr

func (r fakeResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	if a, ok := r[host]; ok {
		return a, nil
	}
	return nil, fmt.Errorf("no such host")
}

// cli is one run of the command with a fake engine and clock.
type cli struct {
	code           int
	stdout, stderr string
	opened         []string // engine names opened
	fake           *fakeEngine
}

type runOpt func(*env, *cli)

func withStdin(s string) runOpt { return func(e *env, _ *cli) { e.stdin = strings.NewReader(s) } }
func withOpenError(err error) runOpt {
	return func(e *env, c *cli) {
		e.openEngine = func(name string, _ engine.Config) (engine.Engine, string, error) {
			c.opened = append(c.opened, name)
			return nil, "", err
		}
	}
}
func withTerminal() runOpt { return func(e *env, _ *cli) { e.stderrTerminal = true } }

func runCLI(t *testing.T, args []string, opts ...runOpt) *cli {
	t.Helper()
	c := &cli{fake: &fakeEngine{}}
	var stdout, stderr bytes.Buffer
	clock := time.Date(2026, 11, 25, 20, 0, 0, 0, time.UTC)
	e := env{
		stdin:  strings.NewReader(""),
		stdout: &stdout,
		stderr: &stderr,
		openEngine: func(name string, _ engine.Config) (engine.Engine, string, error) {
			c.opened = append(c.opened, name)
			return c.fake, "", nil
		},
		resolver: fakeResolver{"db.example": {netip.MustParseAddr("198.18.0.1")}},
		now: func() time.Time {
			clock = clock.Add(time.Millisecond)
			return clock
		},
	}
	for _, o := range opts {
		o(&e, c)
	}
	c.code = run(context.Background(), args, e)
	c.stdout, c.stderr = stdout.String(), stderr.String()
	return c
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		os.WriteFile(path, []byte(got), 0o644)
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Errorf("%s differs from the golden file:\n--- got\n%s--- want\n%s", name, got, want)
	}
}

var goldenTargets = []string{"--seed", "7", "-p", "22,80", "198.18.0.1:80", "198.18.0.2:80", "[2001:db8::3]:443", "203.0.113.4:22", "db.example:5432", "198.18.1.0-198.18.1.2"}

func TestGolden(t *testing.T) {
	for _, format := range []string{"text", "jsonl", "csv"} {
		c := runCLI(t, append([]string{"--format", format}, goldenTargets...))
		if c.code != 1 {
			t.Errorf("%s: exit %d, want 1\n%s", format, c.code, c.stderr)
		}
		golden(t, "scan."+format, c.stdout)
		golden(t, "scan.stderr", c.stderr)
		c = runCLI(t, append([]string{"--format", format, "--open"}, goldenTargets...))
		golden(t, "scan-open."+format, c.stdout)
	}
}

// TestGoldenNoRoute: targets without a route among others are written as
// state noroute in every format and counted apart in the summary, and the
// command exits 1 (not every target open), not 3.
func TestGoldenNoRoute(t *testing.T) {
	args := []string{"--seed", "7", "-p", "80", "198.18.0.1", "192.0.2.1-192.0.2.2", "[2001:db8::4]:443"}
	for _, format := range []string{"text", "jsonl", "csv"} {
		c := runCLI(t, append([]string{"--format", format}, args...))
		if c.code != 1 {
			t.Errorf("%s: exit %d, want 1\n%s", format, c.code, c.stderr)
		}
		golden(t, "scan-noroute."+format, c.stdout)
		golden(t, "scan-noroute.stderr", c.stderr)
	}
}

func TestExitStatus(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		opts []runOpt
		code int
		msg  string
	}{
		{"all open", []string{"198.18.0.1:80", "db.example:5432"}, nil, 0, "open 2"},
		{"one closed", []string{"198.18.0.1:80", "198.18.0.2:80"}, nil, 1, "closed 1"},
		{"one timeout", []string{"198.18.0.3:80"}, nil, 1, "timeout 1"},
		{"one unreachable", []string{"198.18.0.4:80"}, nil, 1, "unreachable 1, noroute 0"},
		{"one without a route", []string{"198.18.0.1:80", "192.0.2.1:80"}, nil, 1, "unreachable 0, noroute 1"},
		{"no raw privilege", []string{"--engine", "raw", "198.18.0.1:80"}, []runOpt{withOpenError(fmt.Errorf("rawcheck: need CAP_NET_RAW: %w", os.ErrPermission))}, 3, "CAP_NET_RAW"},
		{"scan failure", []string{"198.18.0.250:80"}, nil, 3, "probing 198.18.0.250:80: sendmmsg"},
		{"unwritable output", []string{"-o", "/nonexistent/dir/out.txt", "198.18.0.1:80"}, nil, 3, "/nonexistent/dir/out.txt"},
		{"help", []string{"--help"}, nil, 0, ""},
		{"help command", []string{"help"}, nil, 0, ""},
	} {
		c := runCLI(t, tc.args, tc.opts...)
		if c.code != tc.code || !strings.Contains(c.stderr, tc.msg) {
			t.Errorf("%s: exit %d, stderr %q; want %d and %q", tc.name, c.code, c.stderr, tc.code, tc.msg)
		}
	}
}

// TestBadInput checks that every bad input exits 2 with a message naming
// the bad token, before any engine is opened (so nothing is sent).
func TestBadInput(t *testing.T) {
	empty := filepath.Join(t.TempDir(), "empty.txt")
	os.WriteFile(empty, []byte("# nothing here\n"), 0o644)
	for _, tc := range []struct {
		args  []string
		stdin string
		token string
	}{
		{[]string{"300.1.1.1:80"}, "", "300.1.1.1:80"},
		{[]string{"host:99999"}, "", "host:99999"},
		{[]string{"-p", "80", "198.18.0.0/33"}, "", "198.18.0.0/33"},
		{[]string{"-p", "80", "nonsense::"}, "", "nonsense::"},
		{[]string{"-iL", empty}, "", empty},
		{[]string{"-iL", "-"}, "", "-"},
		{[]string{"--input-file", "/nonexistent/targets.txt"}, "", "/nonexistent/targets.txt"},
		{[]string{"--shard", "4/3", "198.18.0.1:80"}, "", "4/3"},
		{[]string{"--frobnicate", "198.18.0.1:80"}, "", "--frobnicate"},
		{[]string{"-p", "99999", "198.18.0.1"}, "", "99999"},
		{[]string{"198.18.0.1"}, "", "198.18.0.1"},
		{[]string{}, "", "no targets"},
		{[]string{"--format", "xml", "198.18.0.1:80"}, "", "xml"},
		{[]string{"--engine", "turbo", "198.18.0.1:80"}, "", "turbo"},
		{[]string{"--timeout", "0s", "198.18.0.1:80"}, "", "--timeout"},
		{[]string{"--retries", "-1", "198.18.0.1:80"}, "", "--retries"},
		{[]string{"--rate", "-5", "198.18.0.1:80"}, "", "--rate"},
		{[]string{"--source-ports", "9-1", "198.18.0.1:80"}, "", "9-1"},
		{[]string{"--exclude", "198.18.0.0/40", "198.18.0.1:80"}, "", "198.18.0.0/40"},
		{[]string{"--exclude", "198.18.0.1", "198.18.0.1:80"}, "", "no targets left"},
		{[]string{"--engine", "connect", "--pcap", "x.pcap", "198.18.0.1:80"}, "", "--pcap"},
		{[]string{"--engine", "connect", "--sweep", "198.18.0.1:80"}, "", "--sweep needs the raw engine"},
		{[]string{"--sweep", "--wait", "5s", "198.18.0.1:80"}, "", "--wait"},
		{[]string{"--sweep", "--diff", empty, "198.18.0.1:80"}, "", "--diff"},
		{[]string{"nowhere.example:80"}, "", "nowhere.example:80"},
		{[]string{"-iL", "-"}, "198.18.0.1:80\n198.18.0.2:70000\n", "198.18.0.2:70000"},
	} {
		c := runCLI(t, tc.args, withStdin(tc.stdin))
		if c.code != 2 || !strings.Contains(c.stderr, tc.token) {
			t.Errorf("%q: exit %d, stderr %q; want 2 naming %q", tc.args, c.code, c.stderr, tc.token)
		}
		if len(c.opened) != 0 || len(c.fake.probed) != 0 {
			t.Errorf("%q: bad input opened an engine (%v) or probed %v", tc.args, c.opened, c.fake.probed)
		}
		if c.stdout != "" {
			t.Errorf("%q: wrote results %q", tc.args, c.stdout)
		}
	}
}

func TestInputFilesAndExcludes(t *testing.T) {
	dir := t.TempDir()
	list := filepath.Join(dir, "list.txt")
	os.WriteFile(list, []byte("198.18.0.1:80\n198.18.2.0/30 # four\n"), 0o644)
	ex := filepath.Join(dir, "ex.txt")
	os.WriteFile(ex, []byte("198.18.2.0\n"), 0o644)
	c := runCLI(t, []string{"-p", "443", "-iL", list, "-iL=-", "--exclude-file", ex, "--exclude", "198.18.2.3,198.18.9.9", "--seed", "3"},
		withStdin("[2001:db8::1]:22\n"))
	var got []string
	for _, line := range strings.Split(strings.TrimSpace(c.stdout), "\n") {
		got = append(got, strings.Fields(line)[0])
	}
	slices.Sort(got)
	want := []string{"198.18.0.1:80", "198.18.2.1:443", "198.18.2.2:443", "[2001:db8::1]:22"}
	if !slices.Equal(got, want) {
		t.Errorf("probed %v, want %v\n%s", got, want, c.stderr)
	}
}

func jsonTargets(t *testing.T, out string) []string {
	t.Helper()
	var got []string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if line == "" {
			continue
		}
		var rec struct{ Target string }
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		got = append(got, rec.Target)
	}
	return got
}

// TestShardsCoverOnce runs the command once per shard and checks the
// shards' union is the whole set with no target twice.
func TestShardsCoverOnce(t *testing.T) {
	base := []string{"--format", "jsonl", "-p", "22,80,443", "198.18.0.0/28", "198.18.3.1-198.18.3.5"}
	all := jsonTargets(t, runCLI(t, base).stdout)
	if len(all) != 63 {
		t.Fatalf("whole set: %d targets, want 63", len(all))
	}
	for _, n := range []int{2, 3, 5} {
		seen := map[string]int{}
		for i := 1; i <= n; i++ {
			c := runCLI(t, append([]string{"--shard", fmt.Sprintf("%d/%d", i, n)}, base...))
			for _, tg := range jsonTargets(t, c.stdout) {
				seen[tg]++
			}
		}
		if len(seen) != len(all) {
			t.Errorf("%d shards cover %d of %d targets", n, len(seen), len(all))
		}
		for _, tg := range all {
			if seen[tg] != 1 {
				t.Errorf("%d shards: %s probed %d times", n, tg, seen[tg])
			}
		}
	}
	// Without --seed, shards share a fixed seed; with different seeds, a
	// shard holds different targets.
	a := jsonTargets(t, runCLI(t, append([]string{"--shard", "1/2"}, base...)).stdout)
	b := jsonTargets(t, runCLI(t, append([]string{"--shard", "1/2", "--seed", "1"}, base...)).stdout)
	c := jsonTargets(t, runCLI(t, append([]string{"--shard", "1/2", "--seed", "2"}, base...)).stdout)
	if !slices.Equal(a, b) {
		t.Error("--shard without --seed does not use seed 1")
	}
	if slices.Equal(b, c) {
		t.Error("seeds 1 and 2 give the same shard")
	}
}

func TestOrderIsPermuted(t *testing.T) {
	c := runCLI(t, []string{"--seed", "9", "-p", "80", "198.18.0.0/25"})
	probed := c.fake.probed
	if len(probed) != 128 {
		t.Fatalf("probed %d targets", len(probed))
	}
	if slices.IsSortedFunc(probed, func(a, b netip.AddrPort) int { return a.Compare(b) }) {
		t.Error("targets probed in address order")
	}
	sorted := slices.SortedFunc(slices.Values(probed), func(a, b netip.AddrPort) int { return a.Compare(b) })
	if len(slices.Compact(sorted)) != 128 {
		t.Error("a target was probed twice")
	}
}

func TestProgressOnlyOnTerminal(t *testing.T) {
	c := runCLI(t, []string{"198.18.0.1:80"})
	if lines := strings.Split(strings.TrimSpace(c.stderr), "\n"); len(lines) != 1 || !strings.HasPrefix(lines[0], "rawprobe: probed 1") {
		t.Errorf("stderr without a terminal: %q, want the summary line alone", c.stderr)
	}
	c = runCLI(t, []string{"198.18.0.1:80"}, withTerminal())
	if !strings.Contains(c.stderr, "targets/") || !strings.Contains(c.stderr, "rawprobe: probed 1") {
		t.Errorf("stderr on a terminal: %q, want a progress bar and the summary", c.stderr)
	}
}

func TestEngineNote(t *testing.T) {
	var got engine.Config
	c := runCLI(t, []string{"--rate", "50", "--timeout", "250ms", "--retries", "0", "--source-ports", "40000-40010", "--force-source-ports", "--own-rst", "198.18.0.1:80"}, func(e *env, c *cli) {
		e.openEngine = func(name string, cfg engine.Config) (engine.Engine, string, error) {
			got = cfg
			c.opened = append(c.opened, name)
			return c.fake, "rawprobe: using the connect engine: no CAP_NET_RAW", nil
		}
	})
	if c.code != 0 || !strings.Contains(c.stderr, "using the connect engine") || !slices.Equal(c.opened, []string{""}) {
		t.Errorf("exit %d, opened %q, stderr %q", c.code, c.opened, c.stderr)
	}
	if got.Rate != 50 || got.Timeout != 250*time.Millisecond || got.Attempts != 1 || got.SourcePorts != [2]uint16{40000, 40010} || !got.OwnRST {
		t.Errorf("engine config %+v", got)
	}
}

func TestRewriteNmapFlags(t *testing.T) {
	got := rewriteNmapFlags([]string{"-iL", "a", "-iL=b", "-oX", "x", "-oG=g", "-p", "80", "--", "-iL", "-oX"})
	want := []string{"--input-file", "a", "--input-file=b", "--output-xml", "x", "--output-grepable=g", "-p", "80", "--", "-iL", "-oX"}
	if !slices.Equal(got, want) {
		t.Errorf("got %q", got)
	}
}

func TestOutputFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out.csv")
	c := runCLI(t, []string{"--format", "csv", "-o", path, "198.18.0.1:80"})
	data, _ := os.ReadFile(path)
	if c.code != 0 || c.stdout != "" || !strings.Contains(string(data), "198.18.0.1:80,198.18.0.1,80,http,open") {
		t.Errorf("exit %d, stdout %q, file %q", c.code, c.stdout, data)
	}
}

func TestInterrupted(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var stdout, stderr bytes.Buffer
	e := env{stdin: strings.NewReader(""), stdout: &stdout, stderr: &stderr, now: time.Now,
		openEngine: func(string, engine.Config) (engine.Engine, string, error) { return &fakeEngine{}, "", nil }}
	if code := run(ctx, []string{"198.18.0.1:80"}, e); code != 3 || !strings.Contains(stderr.String(), "interrupted after 0 of 1 targets") {
		t.Errorf("exit %d, stderr %q", code, stderr.String())
	}
}

// TestSweepNeedsRaw: --sweep with the default engine, when only the
// connect engine opens (no CAP_NET_RAW), is a runtime error (exit 3) that
// names the cause, and nothing is probed.
func TestSweepNeedsRaw(t *testing.T) {
	c := runCLI(t, []string{"--sweep", "198.18.0.1:80"})
	if c.code != 3 || !strings.Contains(c.stderr, "--sweep needs the raw engine") {
		t.Errorf("exit %d, stderr %q; want 3 naming --sweep", c.code, c.stderr)
	}
	if len(c.fake.probed) != 0 || c.stdout != "" {
		t.Errorf("probed %v, wrote %q", c.fake.probed, c.stdout)
	}
}
