package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/rawprobe/rawprobe/internal/cli/engine"
	"github.com/rawprobe/rawprobe/internal/cli/output"
)

// run dispatches to a subcommand and returns the exit status.
func run(ctx context.Context, args []string, e env) int {
	if len(args) > 0 {
		switch args[0] {
		case "serve":
			return runServe(ctx, args[1:], e)
		case "demo":
			return runDemo(ctx, args[1:], e)
		case "help":
			return runScan(ctx, []string{"--help"}, e)
		}
	}
	return runScan(ctx, rewriteNmapFlags(args), e)
}

// rewriteNmapFlags turns nmap's single-dash -iL into --input-file, which
// pflag cannot express as a shorthand.
func rewriteNmapFlags(args []string) []string {
	out := make([]string, 0, len(args))
	for i, a := range args {
		switch {
		case a == "--":
			return append(out, args[i:]...)
		case a == "-iL":
			out = append(out, "--input-file")
		case strings.HasPrefix(a, "-iL="):
			out = append(out, "--input-file="+a[len("-iL="):])
		default:
			out = append(out, a)
		}
	}
	return out
}

// badInput reports a bad flag or target and returns ExitBadInput.
func badInput(e env, err error) int {
	fmt.Fprintf(e.stderr, "rawprobe: %v\n", err)
	return output.ExitBadInput
}

// runtimeError reports a failure to run and returns ExitRuntime.
func runtimeError(e env, err error) int {
	fmt.Fprintf(e.stderr, "rawprobe: %v\n", err)
	return output.ExitRuntime
}

// parseFlags parses args into fs; it returns done with the exit status when
// the command should stop (help or a bad flag).
func parseFlags(fs *pflag.FlagSet, args []string, usage string, e env) (status int, done bool) {
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	err := fs.Parse(args)
	if errors.Is(err, pflag.ErrHelp) {
		fmt.Fprint(e.stdout, usage)
		fmt.Fprint(e.stdout, fs.FlagUsages())
		return 0, true
	}
	if err != nil {
		return badInput(e, fmt.Errorf("%v (see rawprobe --help)", err)), true
	}
	return 0, false
}

// engineFlags are the flags the scan and the exporter share.
type engineFlags struct {
	engine      string
	rate        int
	timeout     time.Duration
	retries     int
	sourcePorts string
	iface       string
	ownRST      bool
	window      int
}

func (f *engineFlags) register(fs *pflag.FlagSet, timeout time.Duration, timeoutHelp string) {
	fs.StringVar(&f.engine, "engine", "", "engine: raw (needs CAP_NET_RAW) or connect; default raw when permitted, else connect")
	fs.IntVar(&f.rate, "rate", 10000, "SYNs per second, retries included (0 = unlimited)")
	fs.DurationVar(&f.timeout, "timeout", timeout, timeoutHelp)
	fs.IntVar(&f.retries, "retries", 2, "extra attempts for a target that did not answer")
	fs.StringVar(&f.sourcePorts, "source-ports", "61000-61999", "raw engine: source port range LOW-HIGH it owns")
	fs.StringVar(&f.iface, "interface", "", "raw engine: send every probe out of this interface")
	fs.BoolVar(&f.ownRST, "own-rst", false, "raw engine: send our own RST to each SYN-ACK (the kernel's is then suppressed)")
	fs.IntVar(&f.window, "window", 0, "probes in flight at most (0 = engine default)")
}

// config checks the flags and returns the engine configuration.
func (f *engineFlags) config() (engine.Config, error) {
	cfg := engine.Config{Rate: f.rate, Timeout: f.timeout, Attempts: f.retries + 1, Interface: f.iface, OwnRST: f.ownRST, Window: f.window}
	switch {
	case f.engine != engine.Raw && f.engine != engine.Connect && f.engine != engine.Auto:
		return cfg, fmt.Errorf("invalid --engine %q: want raw or connect", f.engine)
	case f.rate < 0:
		return cfg, fmt.Errorf("invalid --rate %d: want 0 (unlimited) or more", f.rate)
	case f.timeout <= 0:
		return cfg, fmt.Errorf("invalid --timeout %v: want a positive duration such as 500ms", f.timeout)
	case f.retries < 0 || f.retries > 254:
		return cfg, fmt.Errorf("invalid --retries %d: want 0..254", f.retries)
	case f.window < 0:
		return cfg, fmt.Errorf("invalid --window %d: want 0 (default) or more", f.window)
	}
	lo, hi, ok := strings.Cut(f.sourcePorts, "-")
	l, errL := strconv.ParseUint(lo, 10, 16)
	h, errH := strconv.ParseUint(hi, 10, 16)
	if !ok || errL != nil || errH != nil || l == 0 || h < l {
		return cfg, fmt.Errorf("invalid --source-ports %q: want LOW-HIGH with 1 <= LOW <= HIGH <= 65535", f.sourcePorts)
	}
	cfg.SourcePorts = [2]uint16{uint16(l), uint16(h)}
	return cfg, nil
}
