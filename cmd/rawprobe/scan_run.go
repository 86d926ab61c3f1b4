package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/rawprobe/rawprobe/internal/cli/buildinfo"
	"github.com/rawprobe/rawprobe/internal/cli/engine"
	"github.com/rawprobe/rawprobe/internal/cli/output"
	"github.com/rawprobe/rawprobe/internal/cli/targets"
	"github.com/rawprobe/rawprobe/rawcheck"
)

// scanSession is a plan's outputs and engine, open.
type scanSession struct {
	w        output.Writer // every output, behind --open
	nmap     []nmapWriter  // -oX and -oG, closed at the end
	nmapHdr  output.NmapHeader
	out      io.Writer       // the --format output, for the --stats line
	stats    io.Writer       // --stats-file, nil without
	tap      *output.PcapTap // nil without --pcap
	pcapFile string
	eng      engine.Engine
	files    []*os.File
}

// openScan opens the plan's output files, then its engine. Its errors are
// runtime errors, but for a setting the engine rejects.
func openScan(p *scanPlan, e env) (*scanSession, error) {
	s := &scanSession{pcapFile: p.pcapFile}
	err := s.openOutputs(p, e)
	if err == nil {
		err = s.openEngine(p, e)
	}
	if err != nil {
		s.close()
		return nil, err
	}
	return s, nil
}

// openOutputs creates the results writer and, with --pcap, the tap.
func (s *scanSession) openOutputs(p *scanPlan, e env) error {
	out := e.stdout
	if p.outFile != "" && p.outFile != "-" {
		f, err := s.create(p.outFile)
		if err != nil {
			return err
		}
		out = f
	}
	s.out = out
	switch p.statsFile {
	case "":
	case "-":
		s.stats = e.stdout
	default:
		f, err := s.create(p.statsFile)
		if err != nil {
			return err
		}
		s.stats = f
	}
	ws := multiWriter{p.format.NewWriter(out)}
	if err := s.openNmap(p, e); err != nil {
		return err
	}
	for _, n := range s.nmap {
		ws = append(ws, n)
	}
	s.w = ws
	if p.previous != nil {
		s.w = diffWriter{s.w, p.previous}
	}
	if p.openOnly {
		s.w = output.OpenOnly(s.w)
	}
	if p.pcapFile == "" {
		return nil
	}
	f, err := s.create(p.pcapFile)
	if err != nil {
		return err
	}
	if s.tap, err = output.NewPcapTap(f); err != nil {
		return fmt.Errorf("writing %s: %w", p.pcapFile, err)
	}
	return nil
}

// nmapWriter is an nmap-format writer: XML or grepable.
type nmapWriter interface {
	output.Writer
	Close(output.NmapStats) error
}

// openNmap opens -oX's and -oG's writers, which start their documents now.
func (s *scanSession) openNmap(p *scanPlan, e env) error {
	ports, everyAddr := p.set.Ports()
	s.nmapHdr = output.NmapHeader{
		Args:  "rawprobe " + strings.Join(p.args, " "),
		Start: e.now(),
		Ports: ports.String(),
	}
	if everyAddr { // else a host's result count is unknown: hosts wait in the bounded buffer
		s.nmapHdr.NumPorts = ports.Len()
	}
	for _, o := range []struct {
		name string
		open func(io.Writer, output.NmapHeader) nmapWriter
	}{
		{p.xmlFile, func(w io.Writer, h output.NmapHeader) nmapWriter { return output.NewXMLWriter(w, h) }},
		{p.grepFile, func(w io.Writer, h output.NmapHeader) nmapWriter { return output.NewGrepableWriter(w, h) }},
	} {
		switch o.name {
		case "":
			continue
		case "-":
			s.nmap = append(s.nmap, o.open(e.stdout, s.nmapHdr))
			continue
		}
		f, err := s.create(o.name)
		if err != nil {
			return err
		}
		s.nmap = append(s.nmap, o.open(f, s.nmapHdr))
	}
	return nil
}

// multiWriter writes every record to each of its writers.
type multiWriter []output.Writer

func (m multiWriter) Write(r output.Record) error {
	var first error
	for _, w := range m {
		if err := w.Write(r); err != nil && first == nil {
			first = err
		}
	}
	return first
}

func (m multiWriter) Flush() error {
	var first error
	for _, w := range m {
		if err := w.Flush(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// create creates the file name, to be closed with the session.
func (s *scanSession) create(name string) (*os.File, error) {
	f, err := os.Create(name)
	if err != nil {
		return nil, err
	}
	s.files = append(s.files, f)
	return f, nil
}

// openEngine opens the plan's engine, printing its note if it has one.
func (s *scanSession) openEngine(p *scanPlan, e env) error {
	cfg := p.cfg
	if s.tap != nil {
		cfg.Tap = s.tap
	}
	eng, note, err := e.openEngine(p.engine, cfg)
	if err != nil {
		label := p.engine
		if label == engine.Auto {
			label = "probe"
		}
		return fmt.Errorf("cannot start the %s engine: %w", label, err)
	}
	s.eng = eng
	if note != "" {
		fmt.Fprintln(e.stderr, note)
	}
	if s.tap != nil && eng.Name() != engine.Raw {
		return errors.New("--pcap needs the raw engine, which is not available")
	}
	return nil
}

// close closes the engine and the files; it may be called more than once.
func (s *scanSession) close() {
	if s.eng != nil {
		s.eng.Close()
	}
	for _, f := range s.files {
		f.Close()
	}
	s.files = nil
}

// scanOutcome is what a scan did.
type scanOutcome struct {
	tally   output.Tally
	invalid uint64 // replies the engine could not match
	timing  string // output.TimingSummary of the engine's stats
	elapsed time.Duration
	// unprobed counts the targets --wait ended before a result for.
	unprobed uint64
	// start and end bound the scan; rtt and retransmissions are taken
	// from the results; engine is the engine's name and counters.
	start, end      time.Time
	rtt             output.RTTHistogram
	retransmissions uint64
	engine          string
	engineStats     rawcheck.Stats
	// scanErr stopped the scan; writeErr is the first error writing the
	// results or the capture.
	scanErr, writeErr error
}

// run probes the plan's targets, writing each result and drawing the
// progress, then stops the engine and flushes the outputs.
func (s *scanSession) run(ctx context.Context, p *scanPlan, e env) *scanOutcome {
	o := &scanOutcome{engine: s.eng.Name()}
	bar := output.NewProgress(e.stderr, p.set.ShardLen(p.shard), e.stderrTerminal)
	start := e.now()
	o.start = start
	o.scanErr = s.eng.Scan(ctx, p.set.Order(p.seed, p.shard), func(r rawcheck.Result) {
		o.add(r)
		bar.Add(r)
		if o.writeErr == nil {
			o.writeErr = s.w.Write(output.Record{Name: p.set.Name(r.Target), Result: r, Time: e.now()})
		}
	})
	o.end = e.now()
	o.elapsed = o.end.Sub(start)
	o.engineStats = s.eng.Stats()
	o.invalid, o.timing = o.engineStats.Invalid, output.TimingSummary(o.engineStats)
	// Close before flushing the pcap: the engine may still send (own RSTs)
	// and tap packets until it has stopped.
	s.eng.Close()
	bar.Finish()
	if err := s.flush(); o.writeErr == nil {
		o.writeErr = err
	}
	s.closeNmap(ctx, o, p, e)
	s.writeStats(o, p)
	return o
}

// add counts one result.
func (o *scanOutcome) add(r rawcheck.Result) {
	o.tally.Add(r)
	o.rtt.Add(r)
	if r.Attempts > 1 {
		o.retransmissions += uint64(r.Attempts - 1)
	}
}

// writeStats writes --stats-file and the --stats line of the JSONL stream.
func (s *scanSession) writeStats(o *scanOutcome, p *scanPlan) {
	if s.stats == nil && !p.statsLine {
		return
	}
	bi := buildinfo.Read()
	st := &output.RunStats{
		Version:         bi.Version,
		Commit:          bi.Revision,
		GoVersion:       bi.GoVersion,
		Command:         append([]string{"rawprobe"}, p.args...),
		Seed:            p.seed,
		TargetSetSize:   p.set.Len(),
		TargetSetHash:   p.set.Hash(),
		Targets:         p.set.ShardLen(p.shard),
		Start:           o.start.UTC(),
		End:             o.end.UTC(),
		Engine:          o.engine,
		Counts:          o.tally.Counts(),
		RTT:             o.rtt.Percentiles(),
		Retransmissions: o.retransmissions,
		Drops:           o.engineStats.RingDrops + o.engineStats.SendErrors,
		RingDrops:       o.engineStats.RingDrops,
		SendErrors:      o.engineStats.SendErrors,
		Incomplete:      o.engineStats.RingDrops+o.engineStats.SendErrors > 0,
		InvalidReplies:  o.engineStats.Invalid,
	}
	if p.shard != (targets.Shard{}) {
		st.Shard = p.shard.String()
	}
	if s.stats != nil {
		if err := st.WriteJSON(s.stats); err != nil && o.writeErr == nil {
			o.writeErr = fmt.Errorf("writing %s: %w", p.statsFile, err)
		}
	}
	if p.statsLine {
		if err := st.WriteJSONLine(s.out); err != nil && o.writeErr == nil {
			o.writeErr = err
		}
	}
}

// closeNmap ends the -oX and -oG documents with the scan's outcome.
func (s *scanSession) closeNmap(ctx context.Context, o *scanOutcome, p *scanPlan, e env) {
	stats := output.NmapStats{End: e.now(), Err: o.scanErr}
	if o.scanErr != nil && ctx.Err() != nil {
		stats.Err = fmt.Errorf("interrupted after %d of %d targets", o.tally.Probed, p.set.ShardLen(p.shard))
	}
	for _, n := range s.nmap {
		if err := n.Close(stats); o.writeErr == nil && err != nil {
			o.writeErr = err
		}
	}
}

// flush writes out the buffered results and the capture, both even when
// one fails, and returns the first error.
func (s *scanSession) flush() error {
	err := s.w.Flush()
	if s.tap == nil {
		return err
	}
	if tapErr := s.tap.Flush(); err == nil && tapErr != nil {
		err = fmt.Errorf("writing %s: %w", s.pcapFile, tapErr)
	}
	return err
}

// report prints the summary line and returns the scan's exit status.
func (o *scanOutcome) report(ctx context.Context, p *scanPlan, e env) int {
	losses := ""
	if o.engine == engine.Raw {
		losses = output.LossSummary(o.engineStats)
	}
	fmt.Fprintln(e.stderr, o.tally.Summary(o.invalid, o.elapsed)+losses+o.timing)
	if w := output.IncompleteWarning(o.engineStats); w != "" {
		fmt.Fprintln(e.stderr, w)
	}
	switch {
	case o.scanErr != nil && ctx.Err() != nil:
		return exitStatus(e, fmt.Errorf("interrupted after %d of %d targets", o.tally.Probed, p.set.ShardLen(p.shard)))
	case o.scanErr != nil:
		return exitStatus(e, o.scanErr)
	case o.writeErr != nil:
		return exitStatus(e, o.writeErr)
	case o.tally.AllOpen() && o.unprobed == 0:
		return exitAllOpen
	}
	return exitNotAllOpen
}
