package main

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/pflag"

	"github.com/rawprobe/rawprobe/internal/cli/engine"
	"github.com/rawprobe/rawprobe/internal/cli/output"
	"github.com/rawprobe/rawprobe/internal/cli/targets"
	"github.com/rawprobe/rawprobe/rawcheck"
)

const scanUsage = `Usage: rawprobe [flags] TARGET...
       rawprobe serve [flags]     Prometheus exporter (rawprobe serve --help)
       rawprobe demo              probe built-in local targets

Checks TCP ports without completing the handshake: SYN, then SYN-ACK (open),
RST (closed), ICMP unreachable or nothing (timeout); a SYN-ACK is answered
with RST, never with the final ACK.

TARGET is host:port, ip:port or [v6]:port; with -p also an address, a CIDR
prefix (198.18.0.0/24, 2001:db8::/120), a range 198.18.0.1-198.18.0.9 or a
host name. -iL is accepted as nmap spells it (rewritten to --input-file).
Targets are probed in a pseudo-random order (--seed); --shard I/N probes the
I-th of N disjoint shares, so N machines with the same --seed cover the set
exactly once (with --shard and no --seed, the seed is fixed to 1).

Exit status: 0 every target open, 1 any target not open (a target this
machine has no route to is reported noroute, with nothing sent, and the
scan goes on), 2 bad input (nothing sent), 3 runtime error (e.g. --engine
raw without CAP_NET_RAW).

Flags:
`

// shardDefaultSeed is the seed used with --shard when --seed is not given,
// so that every shard of a job walks the same order.
const shardDefaultSeed = 1

type scanFlags struct {
	engineFlags
	ports        string
	inputFiles   []string
	excludes     []string
	excludeFiles []string
	seed         uint64
	shard        string
	format       string
	outFile      string
	openOnly     bool
	pcapFile     string
}

func runScan(ctx context.Context, args []string, e env) int {
	var f scanFlags
	fs := pflag.NewFlagSet("rawprobe", pflag.ContinueOnError)
	fs.StringVarP(&f.ports, "ports", "p", "", `ports for targets without their own, e.g. "80,443,8000-8100"`)
	fs.StringArrayVar(&f.inputFiles, "input-file", nil, "read targets from FILE (- = stdin); nmap's -iL")
	fs.StringArrayVar(&f.excludes, "exclude", nil, "leave out these addresses, prefixes or ranges (comma-separated)")
	fs.StringArrayVar(&f.excludeFiles, "exclude-file", nil, "leave out the addresses, prefixes or ranges listed in FILE")
	fs.Uint64Var(&f.seed, "seed", 0, "seed of the probe order (default random; 1 with --shard)")
	fs.StringVar(&f.shard, "shard", "", "probe only share I of N, e.g. 2/8")
	fs.StringVar(&f.format, "format", "text", "output format: text, jsonl or csv")
	fs.StringVarP(&f.outFile, "output", "o", "", "write results to FILE instead of stdout")
	fs.BoolVar(&f.openOnly, "open", false, "write only open targets")
	fs.StringVar(&f.pcapFile, "pcap", "", "raw engine: write every packet sent and received to FILE (pcap)")
	f.register(fs, time.Second, "time one attempt waits for a reply")
	if code, done := parseFlags(fs, args, scanUsage, e); done {
		return code
	}

	// Everything the user gave is checked before any engine exists.
	cfg, err := f.config()
	if err != nil {
		return badInput(e, err)
	}
	if f.pcapFile != "" && f.engine == engine.Connect {
		return badInput(e, errors.New("--pcap needs the raw engine; the connect engine sends through the kernel's TCP stack"))
	}
	var shard targets.Shard
	if f.shard != "" {
		if shard, err = targets.ParseShard(f.shard); err != nil {
			return badInput(e, err)
		}
	}
	if _, err := output.NewWriter(f.format, io.Discard); err != nil {
		return badInput(e, fmt.Errorf("invalid --format: %v", err))
	}
	set, err := f.buildSet(ctx, fs.Args(), e)
	if err != nil {
		return badInput(e, err)
	}
	seed := f.seed
	if !fs.Changed("seed") {
		seed = shardDefaultSeed
		if f.shard == "" {
			var b [8]byte
			rand.Read(b[:])
			seed = binary.LittleEndian.Uint64(b[:])
		}
	}

	// Output files, then the engine.
	out := e.stdout
	if f.outFile != "" && f.outFile != "-" {
		file, err := os.Create(f.outFile)
		if err != nil {
			return runtimeError(e, err)
		}
		defer file.Close()
		out = file
	}
	w, _ := output.NewWriter(f.format, out)
	if f.openOnly {
		w = output.OpenOnly(w)
	}
	var tap *output.PcapTap
	if f.pcapFile != "" {
		file, err := os.Create(f.pcapFile)
		if err != nil {
			return runtimeError(e, err)
		}
		defer file.Close()
		if tap, err = output.NewPcapTap(file); err != nil {
			return runtimeError(e, fmt.Errorf("writing %s: %v", f.pcapFile, err))
		}
		cfg.Tap = tap
	}
	eng, note, err := e.openEngine(f.engine, cfg)
	if err != nil {
		return runtimeError(e, fmt.Errorf("cannot start the %s engine: %v", engineLabel(f.engine), err))
	}
	defer eng.Close()
	if note != "" {
		fmt.Fprintln(e.stderr, note)
	}
	if tap != nil && eng.Name() != engine.Raw {
		return runtimeError(e, errors.New("--pcap needs the raw engine, which is not available"))
	}

	var tally output.Tally
	bar := output.NewProgress(e.stderr, set.ShardLen(shard), e.stderrTerminal)
	var writeErr error
	start := e.now()
	scanErr := eng.Scan(ctx, set.Order(seed, shard), func(r rawcheck.Result) {
		tally.Add(r)
		bar.Add(r)
		if writeErr == nil {
			writeErr = w.Write(output.Record{Name: set.Name(r.Target), Result: r, Time: e.now()})
		}
	})
	elapsed := e.now().Sub(start)
	stats := eng.Stats()
	// Close before flushing the pcap: the engine may still send (own RSTs)
	// and tap packets until it has stopped.
	eng.Close()
	bar.Finish()
	if err := w.Flush(); writeErr == nil {
		writeErr = err
	}
	if tap != nil {
		if err := tap.Flush(); writeErr == nil && err != nil {
			writeErr = fmt.Errorf("writing %s: %v", f.pcapFile, err)
		}
	}
	fmt.Fprintln(e.stderr, tally.Summary(stats.Invalid, elapsed))
	switch {
	case scanErr != nil && ctx.Err() != nil:
		return runtimeError(e, fmt.Errorf("interrupted after %d of %d targets", tally.Probed, set.ShardLen(shard)))
	case scanErr != nil:
		return runtimeError(e, scanErr)
	case writeErr != nil:
		return runtimeError(e, writeErr)
	}
	return tally.ExitStatus()
}

func engineLabel(name string) string {
	if name == engine.Auto {
		return "probe"
	}
	return name
}

// buildSet parses the targets, input files and exclusions.
func (f *scanFlags) buildSet(ctx context.Context, args []string, e env) (*targets.Set, error) {
	b := &targets.Builder{Resolver: e.resolver}
	if f.ports != "" {
		p, err := targets.ParsePorts(f.ports)
		if err != nil {
			return nil, fmt.Errorf("invalid -p/--ports: %v", err)
		}
		b.Ports = p
	}
	for _, a := range args {
		if err := b.Add(ctx, a); err != nil {
			return nil, err
		}
	}
	for _, name := range f.inputFiles {
		if err := readFile(name, e, func(r io.Reader) error { return b.AddFile(ctx, r, name) }); err != nil {
			return nil, err
		}
	}
	for _, x := range f.excludes {
		if err := b.Exclude(x); err != nil {
			return nil, err
		}
	}
	for _, name := range f.excludeFiles {
		if err := readFile(name, e, func(r io.Reader) error { return b.ExcludeFile(r, name) }); err != nil {
			return nil, err
		}
	}
	if len(args) == 0 && len(f.inputFiles) == 0 {
		return nil, errors.New("no targets: give TARGET arguments or --input-file/-iL FILE (see rawprobe --help)")
	}
	return b.Build()
}

// readFile opens name ("-" is stdin) and hands it to fn.
func readFile(name string, e env, fn func(io.Reader) error) error {
	if name == "-" {
		return fn(e.stdin)
	}
	file, err := os.Open(name)
	if err != nil {
		return err
	}
	defer file.Close()
	return fn(file)
}
