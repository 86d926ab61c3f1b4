package main

import (
	"context"
	"io"
	"strings"
	"testing"

	"github.com/rawprobe/rawprobe/internal/cli/engine"
	"github.com/rawprobe/rawprobe/internal/verify/testnet"
)

// inProber opens engines inside n's prober namespace, so that the raw
// engine's sockets live there while the command runs in this process.
func inProber(n *testnet.Net) func(string, engine.Config) (engine.Engine, string, error) {
	return func(name string, cfg engine.Config) (eng engine.Engine, note string, err error) {
		nsErr := n.InProber(func() error {
			eng, note, err = engine.Open(name, cfg)
			return nil
		})
		if nsErr != nil {
			return nil, "", nsErr
		}
		return eng, note, err
	}
}

// BenchmarkCommandScan measures the whole command — target parsing,
// permutation, raw engine, jsonl output — on 16384 open ports of a test
// network, unlimited rate.
func BenchmarkCommandScan(b *testing.B) {
	n := testnet.New(b)
	n.Listen(b, "tcp", ":80")
	var summary strings.Builder
	e := defaultEnv()
	e.stdout, e.stderr, e.stderrTerminal = io.Discard, &summary, false
	e.openEngine = inProber(n)
	e.dropCaps = nil // the benchmark runs the command b.N times in its own process
	args := []string{"--engine", "raw", "--rate", "0", "--format", "jsonl", "--timeout", "500ms", "-p", "80", "198.18.64.0/18"}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		summary.Reset()
		if code := run(context.Background(), args, e); code != 0 {
			b.Fatalf("exit %d: %s", code, summary.String())
		}
	}
	b.ReportMetric(float64(16384*b.N)/b.Elapsed().Seconds(), "targets/s")
}
