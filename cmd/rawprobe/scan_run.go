package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/rawprobe/rawprobe/internal/cli/engine"
	"github.com/rawprobe/rawprobe/internal/cli/output"
	"github.com/rawprobe/rawprobe/rawcheck"
)

// scanSession is a plan's outputs and engine, open.
type scanSession struct {
	w        output.Writer
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
	s.w = p.format.NewWriter(out)
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
	// scanErr stopped the scan; writeErr is the first error writing the
	// results or the capture.
	scanErr, writeErr error
}

// run probes the plan's targets, writing each result and drawing the
// progress, then stops the engine and flushes the outputs.
func (s *scanSession) run(ctx context.Context, p *scanPlan, e env) *scanOutcome {
	o := &scanOutcome{}
	bar := output.NewProgress(e.stderr, p.set.ShardLen(p.shard), e.stderrTerminal)
	start := e.now()
	o.scanErr = s.eng.Scan(ctx, p.set.Order(p.seed, p.shard), func(r rawcheck.Result) {
		o.tally.Add(r)
		bar.Add(r)
		if o.writeErr == nil {
			o.writeErr = s.w.Write(output.Record{Name: p.set.Name(r.Target), Result: r, Time: e.now()})
		}
	})
	o.elapsed = e.now().Sub(start)
	st := s.eng.Stats()
	o.invalid, o.timing = st.Invalid, output.TimingSummary(st)
	// Close before flushing the pcap: the engine may still send (own RSTs)
	// and tap packets until it has stopped.
	s.eng.Close()
	bar.Finish()
	if err := s.flush(); o.writeErr == nil {
		o.writeErr = err
	}
	return o
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
	fmt.Fprintln(e.stderr, o.tally.Summary(o.invalid, o.elapsed)+o.timing)
	switch {
	case o.scanErr != nil && ctx.Err() != nil:
		return exitStatus(e, fmt.Errorf("interrupted after %d of %d targets", o.tally.Probed, p.set.ShardLen(p.shard)))
	case o.scanErr != nil:
		return exitStatus(e, o.scanErr)
	case o.writeErr != nil:
		return exitStatus(e, o.writeErr)
	case o.tally.AllOpen():
		return exitAllOpen
	}
	return exitNotAllOpen
}
