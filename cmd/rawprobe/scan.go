package main

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/rawprobe/rawprobe/internal/cli/buildinfo"
	"github.com/rawprobe/rawprobe/internal/cli/engine"
	"github.com/rawprobe/rawprobe/internal/cli/output"
	"github.com/rawprobe/rawprobe/internal/cli/targets"
	"github.com/rawprobe/rawprobe/rawcheck"
)

const scanUsage = `Usage: rawprobe [flags] TARGET...
       rawprobe watch [flags] TARGET...  up/down transitions (rawprobe watch --help)
       rawprobe verify FILE       check a pcap/pcapng capture for completed handshakes
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

Wait mode: --wait 60s probes the targets in rounds, with a backoff of 0.1s
doubling up to 1s between them, until every one is open (exit 0) or the
time is up (exit 1), writing a line on stderr whenever a target's state
changes, then each target's last result: rawprobe --wait 60s db:5432 &&
start-app. It works with either engine.

Sweep: --sweep sends each target one SYN and lists only the targets that
answer (open, closed, unreachable) and those with no route, as zmap and
masscan do; the raw engine keeps nothing per target, so memory does not
grow with the targets. The summary counts the targets with no answer, which
are not listed. It cannot be combined with --wait or --diff, which need
every target's state.

Outputs: -o FILE in --format (text, jsonl, csv), and besides it, in the same
run, nmap's XML (-oX FILE, for ndiff and nmap's parsers) and grepable
output (-oG FILE); "-" is stdout, for one of them.

Interrupt: the first SIGINT/SIGTERM stops sending, waits at most one
--timeout for replies in flight, writes every result, saves the state
(FILE.resume beside -o FILE, else rawprobe.resume) and prints the seed,
shard and position; a second signal stops the wait. rawprobe --resume FILE
probes what is left, appending to -o, -oG and --pcap (-oX and --stats-file
of the n-th resumed run go to FILE.n). Output files open only after the
engine is up; as root, a symbolic link is refused.

Exit status: 0 every target open, 1 any target not open (a target this
machine has no route to is reported noroute, with nothing sent, and the
scan goes on), 2 bad input (nothing sent), 3 runtime error (e.g. --engine
raw without CAP_NET_RAW), 130/143 interrupted by SIGINT/SIGTERM.

Flags:
`

// shardDefaultSeed is the seed used with --shard when --seed is not given,
// so that every shard of a job walks the same order.
const shardDefaultSeed = 1

// scanFlags are the scan command's flags.
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
	xmlFile      string
	grepFile     string
	version      bool
	wait         time.Duration
	statsFile    string
	statsLine    bool
	diffFile     string
	resume       string
	sweep        bool
	// ipv4, ipv6 and allAddresses choose the addresses of host names.
	ipv4, ipv6, allAddresses bool
}

// runScan is the scan command: parse the flags and targets into a plan,
// open the outputs and the engine, run the scan and report it. args are
// as the user typed them (nmap's -iL, -oX, -oG included), as the nmap
// outputs record them.
//
// The first SIGINT or SIGTERM (from e.signals) stops the scan: no new
// target is sent, replies in flight are awaited for one attempt timeout,
// every result is written, the state for --resume is saved and the exit
// status is 130 (SIGINT) or 143 (SIGTERM). A second signal cuts the wait
// short. --wait stops at the first signal.
func runScan(ctx context.Context, args []string, e env) int {
	p, err := parseScan(ctx, rewriteNmapFlags(args), e)
	if err != nil {
		return exitStatus(e, err)
	}
	if p.resume == nil {
		p.args = args
	}
	ctx, intr := watchSignals(ctx, e.signals, p.wait > 0)
	defer intr.close()
	s, err := openScan(p, e)
	if err != nil {
		return exitStatus(e, err)
	}
	defer s.close()
	// The engine and every output are open: nothing else needs a
	// capability.
	if err := dropPrivileges(e); err != nil {
		return exitStatus(e, err)
	}
	if p.wait > 0 {
		return s.runWait(ctx, p, e, intr).report(ctx, p, e, intr)
	}
	return s.run(ctx, p, e, intr).report(ctx, p, e, intr)
}

// scanPlan is a scan as its flags and targets describe it, every part
// checked; nothing has been opened or sent.
type scanPlan struct {
	engine   string // engine.Raw, engine.Connect or engine.Auto
	cfg      engine.Config
	set      *targets.Set
	shard    targets.Shard
	seed     uint64
	format   output.Format
	openOnly bool
	outFile  string // "" or "-": stdout
	pcapFile string // "": no capture
	// xmlFile and grepFile are -oX's and -oG's files ("": none, "-":
	// stdout); args is the command line they record, as typed.
	xmlFile, grepFile string
	args              []string
	// wait is --wait: probe in rounds until every target is open or it
	// has passed; 0 scans once.
	wait time.Duration
	// statsFile is --stats-file ("": none); statsLine is --stats, the
	// same data closing the JSONL stream.
	statsFile string
	statsLine bool
	// previous is --diff's previous run, nil without --diff.
	previous previousRun
	// sweep is --sweep: rawcheck's Sweep, which reports only the targets
	// that answer.
	sweep bool
	// resume is the state of the interrupted scan this run continues
	// (--resume), nil for a new scan; statePath is where an interrupted
	// run writes its state. pcapAppend: --pcap's file holds a capture to
	// append to.
	resume     *resumeState
	statePath  string
	pcapAppend bool
}

// parseScan parses args into a plan. Every error is bad input, or
// pflag.ErrHelp after the usage was printed.
func parseScan(ctx context.Context, args []string, e env) (*scanPlan, error) {
	var f scanFlags
	fs := f.flagSet()
	if err := parseFlags(fs, args, scanUsage, e); err != nil {
		return nil, err
	}
	if f.version {
		fmt.Fprintln(e.stdout, buildinfo.Read())
		return nil, pflag.ErrHelp
	}
	if f.resume != "" {
		return parseResume(ctx, fs, f.resume, e)
	}
	p := &scanPlan{engine: f.engine, openOnly: f.openOnly, outFile: f.outFile, pcapFile: f.pcapFile, seed: f.orderSeed(fs),
		xmlFile: f.xmlFile, grepFile: f.grepFile, wait: f.wait, statsFile: f.statsFile, statsLine: f.statsLine, sweep: f.sweep}
	var err error
	if p.cfg, err = f.config(fs); err != nil {
		return nil, err
	}
	if f.iface != "" {
		if _, err := net.InterfaceByName(f.iface); err != nil {
			return nil, badInput(fmt.Errorf("invalid --interface %q: %v", f.iface, err))
		}
	}
	if f.pcapFile != "" && f.engine == engine.Connect {
		return nil, badInput(errors.New("--pcap needs the raw engine; the connect engine sends through the kernel's TCP stack"))
	}
	if err := f.checkSweep(); err != nil {
		return nil, badInput(err)
	}
	if f.shard != "" {
		if p.shard, err = targets.ParseShard(f.shard); err != nil {
			return nil, badInput(err)
		}
	}
	if p.format, err = output.ParseFormat(f.format); err != nil {
		return nil, badInput(fmt.Errorf("invalid --format: %w", err))
	}
	if p.statsLine && p.format.String() != "jsonl" {
		return nil, badInput(fmt.Errorf("--stats closes a JSONL stream: it needs --format jsonl, not %s (--stats-file FILE writes the same data for any format)", p.format))
	}
	if err := p.checkOutputs(); err != nil {
		return nil, badInput(err)
	}
	if p.set, err = f.buildSet(ctx, fs.Args(), e); err != nil {
		return nil, badInput(err)
	}
	if err := p.checkWait(); err != nil {
		return nil, badInput(err)
	}
	p.statePath = resumeStatePath(p.outFile)
	if f.diffFile != "" {
		err := readFile(f.diffFile, e, func(r io.Reader) (err error) {
			p.previous, err = readPreviousRun(r, f.diffFile)
			return err
		})
		if err != nil {
			return nil, badInput(err)
		}
	}
	return p, nil
}

// parseResume parses the command line saved in the state file name into
// the plan of the scan that continues it. --resume takes no other flag
// and no target.
func parseResume(ctx context.Context, fs *pflag.FlagSet, name string, e env) (*scanPlan, error) {
	if fs.NFlag() != 1 || fs.NArg() != 0 {
		return nil, badInput(errors.New("--resume FILE takes no other flag and no target: the interrupted scan's command line is in FILE"))
	}
	st, err := readResumeState(name)
	if err != nil {
		return nil, badInput(err)
	}
	for _, a := range st.Args {
		if a == "--resume" || strings.HasPrefix(a, "--resume=") {
			return nil, badInput(fmt.Errorf("--resume %s: its command line holds --resume", name))
		}
	}
	p, err := parseScan(ctx, rewriteNmapFlags(st.Args), e)
	if err != nil {
		return nil, err
	}
	p.args = st.Args
	p.statePath = name
	if err := p.checkResume(st, name); err != nil {
		return nil, badInput(err)
	}
	return p, nil
}

// checkSweep rejects --sweep with what it cannot serve: the connect
// engine, which has no sweep, and --wait and --diff, which need every
// target's state.
func (f *scanFlags) checkSweep() error {
	switch {
	case !f.sweep:
		return nil
	case f.engine == engine.Connect:
		return errors.New("--sweep needs the raw engine; the connect engine has a socket per target")
	case f.wait != 0:
		return errors.New("--sweep lists only the targets that answer; --wait needs every target's state")
	case f.diffFile != "":
		return errors.New("--sweep lists only the targets that answer; --diff needs every target's state")
	}
	return nil
}

// checkOutputs rejects two outputs on one file: each would overwrite the
// other.
func (p *scanPlan) checkOutputs() error {
	seen := map[string]string{}
	for _, o := range []struct{ flag, name string }{
		{"-o", p.outFile}, {"-oX", p.xmlFile}, {"-oG", p.grepFile}, {"--pcap", p.pcapFile}, {"--stats-file", p.statsFile},
	} {
		name := o.name
		if o.flag == "-o" && name == "" {
			name = "-"
		}
		if name == "" {
			continue
		}
		if prev, dup := seen[name]; dup {
			return fmt.Errorf("%s and %s both write to %q", prev, o.flag, name)
		}
		seen[name] = o.flag
	}
	return nil
}

// flagSet returns the scan's flags, bound to f.
func (f *scanFlags) flagSet() *pflag.FlagSet {
	fs := pflag.NewFlagSet("rawprobe", pflag.ContinueOnError)
	fs.StringVarP(&f.ports, "ports", "p", "", `ports for targets without their own, e.g. "80,443,8000-8100"`)
	fs.StringArrayVar(&f.inputFiles, "input-file", nil, "read targets from FILE (- = stdin); nmap's -iL")
	fs.StringArrayVar(&f.excludes, "exclude", nil, "leave out these addresses, prefixes or ranges (comma-separated)")
	fs.StringArrayVar(&f.excludeFiles, "exclude-file", nil, "leave out the addresses, prefixes or ranges listed in FILE")
	fs.Uint64Var(&f.seed, "seed", 0, "seed of the probe order (default random; 1 with --shard)")
	fs.StringVar(&f.shard, "shard", "", "probe only share I of N, e.g. 2/8")
	fs.StringVar(&f.format, "format", output.Format{}.String(), "output format: "+strings.Join(output.Formats, ", "))
	fs.StringVarP(&f.outFile, "output", "o", "", "write results to FILE instead of stdout")
	fs.BoolVar(&f.openOnly, "open", false, "write only open targets")
	fs.StringVar(&f.pcapFile, "pcap", "", "raw engine: write every packet sent and received to FILE (pcap)")
	fs.StringVar(&f.xmlFile, "output-xml", "", "also write nmap XML to FILE (- = stdout); nmap's -oX")
	fs.StringVar(&f.grepFile, "output-grepable", "", "also write nmap grepable output to FILE (- = stdout); nmap's -oG")
	fs.DurationVar(&f.wait, "wait", 0, "probe in rounds until every target is open (exit 0) or this time has passed (exit 1)")
	f.registerResolution(fs)
	fs.StringVar(&f.diffFile, "diff", "", "write only targets whose state differs from that in FILE, a previous run's --format jsonl output")
	fs.StringVar(&f.statsFile, "stats-file", "", "write the run's metadata and totals to FILE (JSON)")
	fs.BoolVar(&f.statsLine, "stats", false, `with --format jsonl: end the stream with the same data, {"stats": {...}}`)
	fs.BoolVar(&f.sweep, "sweep", false, "raw engine: one SYN per target; list only the targets that answer, as zmap and masscan do")
	fs.StringVar(&f.resume, "resume", "", "continue the interrupted scan whose state is in FILE (its only flag: the command line is in FILE)")
	fs.BoolVar(&f.version, "version", false, "print rawprobe's version, commit and Go version, and exit")
	f.register(fs, rawcheck.DefaultTimeout, "time one attempt waits for a reply")
	return fs
}

// registerResolution adds -4, -6 and --all-addresses to fs.
func (f *scanFlags) registerResolution(fs *pflag.FlagSet) {
	fs.BoolVarP(&f.ipv4, "ipv4", "4", false, "host names: probe IPv4 addresses only")
	fs.BoolVarP(&f.ipv6, "ipv6", "6", false, "host names: probe IPv6 addresses only")
	fs.BoolVar(&f.allAddresses, "all-addresses", false, "host names: probe every address the name resolves to, not the first")
}

// orderSeed returns --seed if given; otherwise shardDefaultSeed with
// --shard, so that the shards of a job agree, else a random seed.
func (f *scanFlags) orderSeed(fs *pflag.FlagSet) uint64 {
	switch {
	case fs.Changed("seed"):
		return f.seed
	case f.shard != "":
		return shardDefaultSeed
	}
	var b [8]byte
	rand.Read(b[:])
	return binary.LittleEndian.Uint64(b[:])
}

// buildSet parses the targets, input files and exclusions.
func (f *scanFlags) buildSet(ctx context.Context, args []string, e env) (*targets.Set, error) {
	b := &targets.Builder{Resolver: e.resolver, AllAddresses: f.allAddresses}
	switch {
	case f.ipv4 && f.ipv6:
		return nil, errors.New("-4 and -6 exclude each other: give one, or neither for both families")
	case f.ipv4:
		b.Family = 4
	case f.ipv6:
		b.Family = 6
	}
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
