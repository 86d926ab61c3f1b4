package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/rawprobe/rawprobe/internal/cli/engine"
	"github.com/rawprobe/rawprobe/rawcheck"
)

// run dispatches to a subcommand and returns the exit status.
//
// A scan handles e.signals itself; the other subcommands stop at the first.
func run(ctx context.Context, args []string, e env) int {
	var sub func(context.Context, []string, env) int
	if len(args) > 0 {
		switch args[0] {
		case "serve":
			sub = runServe
		case "demo":
			sub = runDemo
		case "verify":
			sub = runVerify
		case "watch":
			sub = runWatch
		case "help":
			return runScan(ctx, []string{"--help"}, e)
		}
	}
	if sub == nil {
		return runScan(ctx, args, e)
	}
	ctx, intr := watchSignals(ctx, e.signals, true)
	defer intr.close()
	return sub(ctx, args[1:], e)
}

// nmapFlags are nmap's two-letter single-dash flags and the long flags
// they are rewritten to, which pflag cannot express as shorthands.
var nmapFlags = []struct{ nmap, long string }{
	{"-iL", "--input-file"},
	{"-oX", "--output-xml"},
	{"-oG", "--output-grepable"},
}

// rewriteNmapFlags turns nmap's single-dash -iL, -oX and -oG into their
// long flags.
func rewriteNmapFlags(args []string) []string {
	out := make([]string, 0, len(args))
next:
	for i, a := range args {
		if a == "--" {
			return append(out, args[i:]...)
		}
		for _, f := range nmapFlags {
			switch {
			case a == f.nmap:
				out = append(out, f.long)
				continue next
			case strings.HasPrefix(a, f.nmap+"="):
				out = append(out, f.long+"="+a[len(f.nmap)+1:])
				continue next
			}
		}
		out = append(out, a)
	}
	return out
}

// parseFlags parses args into fs. With --help it prints usage and the
// flags to stdout and returns pflag.ErrHelp; a bad flag is bad input.
func parseFlags(fs *pflag.FlagSet, args []string, usage string, e env) error {
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	err := fs.Parse(args)
	if errors.Is(err, pflag.ErrHelp) {
		fmt.Fprint(e.stdout, usage)
		fmt.Fprint(e.stdout, fs.FlagUsages())
		return err
	}
	if err != nil {
		return badInput(fmt.Errorf("%v (see rawprobe --help)", err))
	}
	return nil
}

// defaultRate is --rate's default. The engines' own default is unlimited;
// the command paces itself so that a scan typed without --rate does not
// flood a network.
const defaultRate = 10000

// engineFlags are the flags the scan and the exporter share.
type engineFlags struct {
	engine      string
	rate        int
	timeout     positiveDuration
	retries     uint
	maxRetries  uint
	sourcePorts portRange
	forcePorts  bool
	iface       string
	ownRST      bool
	window      int
}

// register adds the engine flags to fs. Their defaults are the engines'
// (package rawcheck's constants), except --rate (defaultRate) and
// --timeout, whose default and meaning the subcommand gives.
func (f *engineFlags) register(fs *pflag.FlagSet, timeout time.Duration, timeoutHelp string) {
	f.timeout = positiveDuration(timeout)
	f.sourcePorts = portRange{rawcheck.DefaultSourcePortLow, rawcheck.DefaultSourcePortHigh}
	fs.StringVar(&f.engine, "engine", engine.Auto, "engine: raw (needs CAP_NET_RAW) or connect; default raw when permitted, else connect")
	fs.IntVar(&f.rate, "rate", defaultRate, "SYNs per second, retries included (0 = unlimited)")
	fs.Var(&f.timeout, "timeout", timeoutHelp)
	fs.UintVar(&f.retries, "retries", rawcheck.DefaultAttempts-1, "exactly this many extra attempts for a target that did not answer; without it the raw engine adapts them to the loss it measures (connect: 2)")
	fs.UintVar(&f.maxRetries, "max-retries", rawcheck.DefaultAttemptCeiling-1, "raw engine without --retries: at most this many adaptive extra attempts")
	fs.Var(&f.sourcePorts, "source-ports", "raw engine: source port range LOW-HIGH it owns")
	fs.BoolVar(&f.forcePorts, "force-source-ports", false, "accept a --source-ports range below 1024 or inside the kernel's ephemeral port range")
	fs.StringVar(&f.iface, "interface", "", "raw engine: send every probe out of this interface")
	fs.BoolVar(&f.ownRST, "own-rst", false, "raw engine: send our own RST to each SYN-ACK (the kernel's is then suppressed)")
	fs.IntVar(&f.window, "window", 0, "probes in flight at most (0 = engine default)")
}

// config returns the engine configuration the flags describe, checked by
// engine.Validate; a setting it rejects is bad input naming its flag.
func (f *engineFlags) config(fs *pflag.FlagSet) (engine.Config, error) {
	cfg := engine.Config{
		Rate:     f.rate,
		Timeout:  time.Duration(f.timeout),
		Attempts: 1 + int(min(f.retries, math.MaxInt32)), // saturated: a huge count must not wrap to 0, the default
		// --max-retries: the ceiling of adaptive attempts, used when
		// --retries is not given (Attempts 0).
		AttemptCeiling: 1 + int(min(f.maxRetries, math.MaxInt32)),
		SourcePorts:    f.sourcePorts,
		Interface:      f.iface,
		OwnRST:         f.ownRST,
		Window:         f.window,
	}
	if !fs.Changed("retries") {
		cfg.Attempts = 0 // adaptive
	}
	cfg.ForceSourcePorts = f.forcePorts
	if err := engine.Validate(f.engine, cfg); err != nil {
		return cfg, flagError(fs, err)
	}
	return cfg, nil
}

// flagOfField names the flag that sets each rawcheck.Config field.
var flagOfField = map[string]string{
	"Rate":           "rate",
	"Timeout":        "timeout",
	"Attempts":       "retries",
	"AttemptCeiling": "max-retries",
	"SourcePorts":    "source-ports",
	"Window":         "window",
}

// flagError marks an error of engine.Validate as bad input and names the
// flag behind it with the value given.
func flagError(fs *pflag.FlagSet, err error) error {
	name := "engine"
	if ce := (*rawcheck.ConfigError)(nil); errors.As(err, &ce) {
		name = flagOfField[ce.Field]
	}
	if fl := fs.Lookup(name); fl != nil {
		err = fmt.Errorf("invalid --%s %s: %w", name, fl.Value, err)
	}
	return badInput(err)
}
