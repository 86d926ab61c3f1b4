package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"time"

	"github.com/spf13/pflag"

	"github.com/rawprobe/rawprobe/internal/cli/engine"
	"github.com/rawprobe/rawprobe/rawcheck"
)

const watchUsage = `Usage: rawprobe watch [flags] TARGET...

Probes every target each --interval until interrupted and writes one record
per transition: a target that is up goes down after --fall consecutive
checks that did not find it open, and one that is down comes up after
--rise consecutive checks that found it open (HAProxy's rise and fall).
Every target starts up, as HAProxy's servers do, so a target that is down
from the start gets its down record after --fall checks. Each record names
the target, the transition, the state of the check that caused it and the
time; --format text (default) or jsonl. Output is flushed at every record.
TARGET is as for a scan (host:port, or with -p an address, prefix or host
name). Exit status 0 when interrupted, 2 bad input, 3 runtime error.

Flags:
`

// maxWatchTargets bounds the targets of watch, whose per-target state is
// all it keeps, so that its memory stays flat however long it runs.
const maxWatchTargets = 1 << 16

// watchFlags are watch's flags.
type watchFlags struct {
	engineFlags
	sel      scanFlags // -p and --input-file only
	interval positiveDuration
	rise     int
	fall     int
	format   string
	outFile  string
}

// watchPlan is a watch as its flags describe it, checked.
type watchPlan struct {
	engine     string
	cfg        engine.Config
	targets    []netip.AddrPort
	names      []string
	interval   time.Duration
	rise, fall int
	jsonl      bool
	outFile    string
}

// runWatch is the watch command.
func runWatch(ctx context.Context, args []string, e env) int {
	p, err := parseWatch(ctx, args, e)
	if err != nil {
		return exitStatus(e, err)
	}
	out := e.stdout
	if p.outFile != "" && p.outFile != "-" {
		f, err := os.Create(p.outFile)
		if err != nil {
			return exitStatus(e, err)
		}
		defer f.Close()
		out = f
	}
	eng, note, err := e.openEngine(p.engine, p.cfg)
	if err != nil {
		return exitStatus(e, fmt.Errorf("cannot start the engine: %w", err))
	}
	defer eng.Close()
	if note != "" {
		fmt.Fprintln(e.stderr, note)
	}
	if err := dropPrivileges(e); err != nil {
		return exitStatus(e, err)
	}
	if err := watch(ctx, p, eng, out, e); err != nil && ctx.Err() == nil {
		return exitStatus(e, err)
	}
	return exitAllOpen
}

func parseWatch(ctx context.Context, args []string, e env) (*watchPlan, error) {
	var f watchFlags
	f.interval = positiveDuration(2 * time.Second)
	fs := pflag.NewFlagSet("rawprobe watch", pflag.ContinueOnError)
	fs.StringVarP(&f.sel.ports, "ports", "p", "", `ports for targets without their own, e.g. "80,443"`)
	fs.StringArrayVar(&f.sel.inputFiles, "input-file", nil, "read targets from FILE (- = stdin); nmap's -iL")
	f.sel.registerResolution(fs)
	fs.Var(&f.interval, "interval", "time between the starts of two checks of the targets")
	fs.IntVar(&f.rise, "rise", 2, "consecutive open checks that bring a down target up")
	fs.IntVar(&f.fall, "fall", 3, "consecutive checks not open that bring an up target down")
	fs.StringVar(&f.format, "format", "text", "record format: text or jsonl")
	fs.StringVarP(&f.outFile, "output", "o", "", "write records to FILE instead of stdout")
	f.register(fs, rawcheck.DefaultTimeout, "time one attempt waits for a reply")
	if err := parseFlags(fs, rewriteNmapFlags(args), watchUsage, e); err != nil {
		return nil, err
	}
	p := &watchPlan{engine: f.engine, interval: time.Duration(f.interval), rise: f.rise, fall: f.fall, outFile: f.outFile}
	var err error
	if p.cfg, err = f.config(fs); err != nil {
		return nil, err
	}
	switch {
	case f.rise < 1 || f.rise > 1000:
		return nil, badInput(fmt.Errorf("invalid --rise %d: want 1 to 1000", f.rise))
	case f.fall < 1 || f.fall > 1000:
		return nil, badInput(fmt.Errorf("invalid --fall %d: want 1 to 1000", f.fall))
	case f.format != "text" && f.format != "jsonl":
		return nil, badInput(fmt.Errorf("invalid --format %q: watch writes text or jsonl", f.format))
	}
	p.jsonl = f.format == "jsonl"
	set, err := f.sel.buildSet(ctx, fs.Args(), e)
	if err != nil {
		return nil, badInput(err)
	}
	if set.Len() > maxWatchTargets {
		return nil, badInput(fmt.Errorf("watch takes at most %d targets, got %d", maxWatchTargets, set.Len()))
	}
	for i := range set.Len() {
		t := set.At(i)
		p.targets = append(p.targets, t)
		p.names = append(p.names, set.Name(t))
	}
	return p, nil
}

// health is one target's rise/fall state.
type health struct {
	down bool
	run  int // consecutive checks that argue for a transition
}

// check accounts one check's result and reports whether it made the
// target change from up to down or back.
func (h *health) check(open bool, rise, fall int) bool {
	if open == !h.down { // the check agrees with the current state
		h.run = 0
		return false
	}
	h.run++
	need := fall
	if h.down {
		need = rise
	}
	if h.run < need {
		return false
	}
	h.down, h.run = !h.down, 0
	return true
}

// watch checks the targets every interval until ctx is done, writing a
// record per transition.
func watch(ctx context.Context, p *watchPlan, eng engine.Engine, out io.Writer, e env) error {
	w := bufio.NewWriter(out)
	hs := make([]health, len(p.targets))
	index := make(map[netip.AddrPort]int, len(p.targets))
	for i, t := range p.targets {
		index[t] = i
	}
	tick := time.NewTicker(p.interval)
	defer tick.Stop()
	var buf []byte
	for {
		err := eng.Scan(ctx, slices.Values(p.targets), func(r rawcheck.Result) {
			i, ok := index[r.Target]
			if !ok || !hs[i].check(r.State == rawcheck.Open, p.rise, p.fall) {
				return
			}
			buf = appendTransition(buf[:0], p, p.names[i], r, !hs[i].down, e.now())
			w.Write(buf)
		})
		if ferr := w.Flush(); ferr != nil {
			return ferr
		}
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// appendTransition appends one record: the target went up (or down) at
// t, with the result of the check that decided it.
func appendTransition(b []byte, p *watchPlan, name string, r rawcheck.Result, up bool, t time.Time) []byte {
	from, to := "up", "down"
	if up {
		from, to = "down", "up"
	}
	checks := p.fall
	if up {
		checks = p.rise
	}
	if p.jsonl {
		b = append(b, `{"time":"`...)
		b = t.UTC().AppendFormat(b, time.RFC3339Nano)
		b = append(b, `","target":`...)
		q, _ := json.Marshal(name) // a string always marshals
		b = append(b, q...)
		b = append(b, `,"ip":"`...)
		b = r.Target.Addr().AppendTo(b)
		b = append(b, `","port":`...)
		b = strconv.AppendUint(b, uint64(r.Target.Port()), 10)
		b = append(b, `,"from":"`+from+`","to":"`+to+`","state":"`...)
		b = append(b, r.State.String()...)
		b = append(b, `","checks":`...)
		b = strconv.AppendInt(b, int64(checks), 10)
		return append(b, "}\n"...)
	}
	b = t.UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, ' ')
	b = append(b, name...)
	b = append(b, " "+from+" -> "+to+" (state "...)
	b = append(b, r.State.String()...)
	b = append(b, ", "...)
	b = strconv.AppendInt(b, int64(checks), 10)
	return append(b, " checks)\n"...)
}
