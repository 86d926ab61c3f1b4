package epollcheck

import (
	"bufio"
	"bytes"
	"context"
	"flag"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rawprobe/rawprobe/internal/verify/netlab"
	"github.com/rawprobe/rawprobe/internal/verify/testnet"
)

// envBenchTarget names the open target address for a benchmark child: a
// benchmark re-executed by BenchmarkTestnet inside the prober namespace.
const envBenchTarget = "RAWPROBE_EPOLLCHECK_BENCH_TARGET"

// Test-network benchmark ports: the engine checks port 80, net.Dialer
// connects to port 8080 (its completed connections must not mix with the
// engine's zero).
const (
	benchEnginePort = 80
	benchDialerPort = 8080
)

// BenchmarkTestnet measures checks/s against one open port in the test
// network at concurrency 100 and 1000: the epoll engine beside net.Dialer
// connect+close (with RST) in the same run, and the reference of
// 16 OS threads each doing socket, connect, poll, close.
//
// Per-check sockets are created on whatever thread runs Check, so the
// dialing must happen in a process inside the prober namespace: each
// sub-benchmark builds a test network, then re-executes itself (same
// binary, same -benchtime, -test.count=1) under `ip netns exec`, parses the
// child's result line and reports its figures as its own (ns/op, checks/s,
// B/op, allocs/op). Around the child it counts what the target saw: its
// accepted connections and Tcp.PassiveOpens (completed handshakes), which
// must stay 0 for the engine.
func BenchmarkTestnet(b *testing.B) {
	for _, kind := range []string{"engine", "dialer"} {
		for _, conc := range []int{100, 1000} {
			b.Run(kind+"/conc="+strconv.Itoa(conc), func(b *testing.B) { benchTestnet(b, kind, conc) })
		}
	}
	// The reference point: 16 threads each connect+poll+close.
	b.Run("threads/conc=16", func(b *testing.B) { benchTestnet(b, "threads", 16) })
}

// benchTestnet runs one sub-benchmark: the measuring child inside the
// prober namespace, or the parent around it.
func benchTestnet(b *testing.B, kind string, conc int) {
	if host := os.Getenv(envBenchTarget); host != "" {
		benchChild(b, kind, conc, host)
		return
	}
	benchParent(b, kind)
}

// benchChild is the measuring half, inside the prober namespace.
func benchChild(b *testing.B, kind string, conc int, host string) {
	ip, err := netip.ParseAddr(host)
	if err != nil {
		b.Fatalf("%s=%q: %v", envBenchTarget, host, err)
	}
	b.ReportAllocs()
	switch kind {
	case "engine":
		c := startedEngine(b)
		addr := at(ip, benchEnginePort)
		// A refusal of the open port comes from the kernel's 4-tuple
		// reuse race (see TestLoadPcap50k): counted, not fatal.
		var refused atomic.Int64
		runConcurrent(b, conc, func() error {
			return outcomeErr(checkAddr(c, addr, 5*time.Second), &refused)
		})
		b.ReportMetric(float64(refused.Load()), "refused")
	case "threads":
		runThreadLoop(b, conc, netip.AddrPortFrom(ip, benchDialerPort))
	case "dialer":
		addr := at(ip, benchDialerPort)
		d := net.Dialer{Timeout: 5 * time.Second}
		runConcurrent(b, conc, func() error {
			c, err := d.Dial("tcp", addr)
			if err != nil {
				return err
			}
			c.(*net.TCPConn).SetLinger(0)
			return c.Close()
		})
	}
}

// benchParent builds the network, runs the child and reports its figures
// and the target's counts.
func benchParent(b *testing.B, kind string) {
	// The child measures; one run of it is one result. The framework
	// first calls with b.N == 1 (measure then), and may call again with a
	// larger b.N (-benchtime=Nx always does): report the figures already
	// measured. Each -count repetition starts again with b.N == 1.
	if m, ok := benchMeasured[b.Name()]; ok && b.N > 1 {
		for unit, v := range m {
			b.ReportMetric(v, unit)
		}
		return
	}
	reported := map[string]float64{}
	benchMeasured[b.Name()] = reported
	defer func() {
		if b.Failed() {
			delete(benchMeasured, b.Name())
		}
	}()
	report := func(v float64, unit string) {
		reported[unit] = v
		b.ReportMetric(v, unit)
	}
	n := testnet.New(b)
	engineL := n.Listen(b, "tcp", ":"+strconv.Itoa(benchEnginePort))
	dialerL := n.Listen(b, "tcp", ":"+strconv.Itoa(benchDialerPort))
	before, err := n.TargetCounters()
	if err != nil {
		b.Fatal(err)
	}
	capture := startBenchCapture(b, n)

	out := runBenchChild(b, n, netlab.Nth(n.Answering4, 1).String())
	if testing.Verbose() {
		b.Logf("child output:\n%s", out)
	}
	metrics, ok := parseBenchLine(out, b.Name())
	if !ok {
		b.Fatalf("no result line for %s in the child's output:\n%s", b.Name(), out)
	}
	for unit, v := range metrics {
		report(v, unit)
	}

	after, err := n.TargetCounters()
	if err != nil {
		b.Fatal(err)
	}
	completed := after["Tcp.PassiveOpens"] - before["Tcp.PassiveOpens"]
	report(float64(completed), "completed-conns")
	if testing.Verbose() {
		for k, v := range after {
			if d := v - before[k]; d != 0 {
				b.Logf("target %s +%d", k, d)
			}
		}
	}
	if kind == "engine" {
		// A kernel-connect check keeps its handshake incomplete only
		// while its close follows the SYN-ACK within the delayed-ACK
		// timer; a scheduling stall that long on a loaded machine lets
		// the ACK out (seen: one in a run, after a 276 ms stall). The
		// benchmark measures, so it reports such handshakes (the
		// completed-conns metric, and this line); the tests, which
		// assert, require none (compat's TestTestnet, TestLoadPcap50k).
		if completed != 0 || engineL.Accepted() != 0 {
			b.Logf("engine: the target completed %d handshakes and its application accepted %d (a check's close came after the delayed-ACK timer)",
				completed, engineL.Accepted())
		}
		if dialerL.Accepted() != 0 {
			b.Errorf("engine run reached the dialer's listener")
		}
	}
	capture.report(b, kind == "engine", completed, report)
}

// benchMeasured holds each sub-benchmark's figures for the calls after
// the first of one invocation.
var benchMeasured = map[string]map[string]float64{}

// runBenchChild re-executes the running sub-benchmark in the prober
// namespace and returns its output.
func runBenchChild(b *testing.B, n *testnet.Net, host string) []byte {
	exe, err := os.Executable()
	if err != nil {
		b.Fatal(err)
	}
	benchtime := "1s"
	if f := flag.Lookup("test.benchtime"); f != nil {
		benchtime = f.Value.String()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := n.ProberCmd(ctx, exe,
		"-test.run=^$",
		"-test.bench="+testnet.RunPattern(b.Name()),
		"-test.benchtime="+benchtime,
		"-test.count=1",
		"-test.benchmem",
	)
	// A profiling aid: extra flags for the child, e.g.
	// RAWPROBE_EPOLLCHECK_BENCH_CHILD_ARGS=-test.cpuprofile=/tmp/child.prof
	if extra := os.Getenv("RAWPROBE_EPOLLCHECK_BENCH_CHILD_ARGS"); extra != "" {
		cmd.Args = append(cmd.Args, strings.Fields(extra)...)
	}
	cmd.Env = append(os.Environ(), envBenchTarget+"="+host)
	out, err := cmd.CombinedOutput()
	if err != nil {
		b.Fatalf("benchmark child: %v\n%s", err, out)
	}
	return out
}

// parseBenchLine finds the result line of benchmark name (followed by the
// -GOMAXPROCS suffix) and returns its value/unit pairs.
func parseBenchLine(out []byte, name string) (map[string]float64, bool) {
	s := bufio.NewScanner(bytes.NewReader(out))
	for s.Scan() {
		f := strings.Fields(s.Text())
		if len(f) < 4 || !strings.HasPrefix(f[0], name+"-") && f[0] != name {
			continue
		}
		m := map[string]float64{}
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				return nil, false
			}
			m[f[i+1]] = v
		}
		return m, true
	}
	return nil, false
}
