package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"strings"
	"sync"
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
	pcapLate *lateWriter     // the tap's destination until its file opens
	pcapFile string
	eng      engine.Engine
	files    []*os.File
}

// openScan opens the plan's engine, then its output files, so that a run
// that cannot probe leaves existing files as they were. Its errors are
// runtime errors, but for a setting the engine rejects and an output path
// refused for being a symbolic link.
func openScan(p *scanPlan, e env) (*scanSession, error) {
	s := &scanSession{pcapFile: p.pcapFile}
	err := s.newTap(p)
	if err == nil {
		err = s.openEngine(p, e)
	}
	if err == nil {
		err = s.openOutputs(p, e)
	}
	if err != nil {
		s.close()
		return nil, err
	}
	return s, nil
}

// newTap makes --pcap's tap, which holds the capture until its file is
// open: the engine takes the tap when it starts, before the files open.
func (s *scanSession) newTap(p *scanPlan) error {
	if p.pcapFile == "" {
		return nil
	}
	s.pcapLate = &lateWriter{}
	if p.pcapAppend {
		s.tap = output.NewPcapTapAppend(s.pcapLate)
		return nil
	}
	var err error
	if s.tap, err = output.NewPcapTap(s.pcapLate); err != nil {
		return fmt.Errorf("writing %s: %w", p.pcapFile, err)
	}
	return nil
}

// openOutputs opens the output files and makes the results writer. A
// resumed run appends to -o, -oG and --pcap, and writes its -oX and
// --stats-file documents to FILE.n (see resumedName).
func (s *scanSession) openOutputs(p *scanPlan, e env) error {
	resumed := p.resume != nil
	var outs []outputFile
	add := func(name string, appendTo bool) int {
		if name == "" || name == "-" {
			return -1
		}
		outs = append(outs, outputFile{name: name, append: appendTo})
		return len(outs) - 1
	}
	iOut := add(p.outFile, resumed)
	iStats := add(p.resumedName(p.statsFile), false)
	iXML := add(p.resumedName(p.xmlFile), false)
	iGrep := add(p.grepFile, resumed)
	iPcap := add(p.pcapFile, p.pcapAppend)
	files, err := openOutputFiles(outs, privileged())
	if err != nil {
		return err
	}
	s.files = files
	file := func(i int, std io.Writer) io.Writer {
		if i < 0 {
			return std
		}
		return files[i]
	}
	out := file(iOut, e.stdout)
	s.out = out
	if p.statsFile != "" {
		s.stats = file(iStats, e.stdout)
	}
	var ws multiWriter
	if resumed && iOut >= 0 {
		ws = multiWriter{p.format.NewAppendWriter(out)}
	} else {
		ws = multiWriter{p.format.NewWriter(out)}
	}
	var xml, grep io.Writer
	if p.xmlFile != "" {
		xml = file(iXML, e.stdout)
	}
	if p.grepFile != "" {
		grep = file(iGrep, e.stdout)
	}
	s.openNmap(p, e, xml, grep)
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
	if iPcap >= 0 {
		if err := s.pcapLate.attach(files[iPcap]); err != nil {
			return fmt.Errorf("writing %s: %w", p.pcapFile, err)
		}
	}
	return nil
}

// nmapWriter is an nmap-format writer: XML or grepable.
type nmapWriter interface {
	output.Writer
	Close(output.NmapStats) error
}

// openNmap opens -oX's and -oG's writers to xml and grep (nil: none),
// which start their documents now.
func (s *scanSession) openNmap(p *scanPlan, e env, xml, grep io.Writer) {
	ports, everyAddr := p.set.Ports()
	s.nmapHdr = output.NmapHeader{
		Args:    "rawprobe " + strings.Join(p.args, " "),
		Start:   e.now(),
		Version: "rawprobe " + buildinfo.Read().Version,
		Ports:   ports.String(),
	}
	if everyAddr { // else a host's result count is unknown: hosts wait in the bounded buffer
		s.nmapHdr.NumPorts = ports.Len()
	}
	if xml != nil {
		s.nmap = append(s.nmap, output.NewXMLWriter(xml, s.nmapHdr))
	}
	if grep != nil {
		s.nmap = append(s.nmap, output.NewGrepableWriter(grep, s.nmapHdr))
	}
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
	if _, ok := eng.(engine.Sweeper); p.sweep && !ok {
		return errors.New("--sweep needs the raw engine, which is not available")
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
	// position is how far the walk came (every result written is counted
	// in it); left is the number of targets still without a result.
	position targets.Position
	left     uint64
}

// run probes the plan's targets (those a resumed scan left), writing each
// result and drawing the progress, then stops the engine and flushes the
// outputs. It records the position each result reached, for --resume.
// intr's stop ends the sending and drains the replies in flight for one
// attempt timeout.
func (s *scanSession) run(ctx context.Context, p *scanPlan, e env, intr *interruption) *scanOutcome {
	o := &scanOutcome{engine: s.eng.Name()}
	var from targets.Position
	if p.resume != nil {
		from = p.resume.Position
	}
	total := p.set.ShardLen(p.shard)
	bar := output.NewProgress(e.stderr, total-from.Next-uint64(len(from.Done)), e.stderrTerminal)
	start := e.now()
	o.start = start
	// The engines report results by target, so each target's position is
	// kept from when it is handed over until its result comes back (a
	// list: a set may name one endpoint twice); a sweep's, once its SYN
	// has left (sweptTargets).
	var mu sync.Mutex
	progress := targets.NewProgress(from)
	inflight := map[netip.AddrPort][]uint64{}
	swept := &sweptTargets{progress: progress}
	walk := func(yield func(netip.AddrPort) bool) {
		for j, t := range p.set.Walk(p.seed, p.shard, from) {
			if p.sweep {
				if !yield(t) {
					return
				}
				mu.Lock()
				swept.took(j)
				mu.Unlock()
				bar.Sent()
				continue
			}
			mu.Lock()
			inflight[t] = append(inflight[t], j)
			mu.Unlock()
			if !yield(t) {
				return
			}
		}
	}
	yield := func(r rawcheck.Result) {
		o.add(r)
		if p.sweep {
			bar.Answer(r)
		} else {
			bar.Add(r)
		}
		if o.writeErr == nil {
			o.writeErr = s.w.Write(output.Record{Name: p.set.Name(r.Target), Result: r, Time: e.now()})
		}
		if p.sweep {
			return
		}
		mu.Lock()
		if js := inflight[r.Target]; len(js) > 0 {
			progress.Done(js[0])
			if len(js) == 1 {
				delete(inflight, r.Target)
			} else {
				inflight[r.Target] = js[1:]
			}
		}
		mu.Unlock()
	}
	if sw, ok := s.eng.(engine.Sweeper); p.sweep && ok { // openEngine checked ok
		var cut bool
		cut, o.scanErr = engine.SweepUntil(ctx, sw, walk, intr.stop, sweepGrace(p.cfg), yield)
		if !cut && o.scanErr == nil {
			mu.Lock()
			swept.sentAll()
			mu.Unlock()
		}
	} else {
		o.scanErr = engine.ScanUntil(ctx, s.eng, walk, intr.stop, p.cfg.AttemptTimeout(), yield)
	}
	mu.Lock()
	o.position = progress.Position()
	if p.sweep {
		o.tally.NoAnswer = swept.n - min(swept.n, o.tally.Probed)
		o.tally.Probed = swept.n
	}
	mu.Unlock()
	o.left = total - o.position.Next - uint64(len(o.position.Done))
	s.stopEngine(o, e)
	o.timing = output.TimingSummary(o.engineStats)
	if p.sweep {
		o.timing = output.SweepTimingSummary(o.engineStats)
	}
	bar.Finish()
	s.finish(ctx, o, p, e, intr)
	return o
}

// stopEngine records the end of the scan and the engine's counters in o,
// then closes the engine. It runs before finish flushes the pcap: the
// engine may still send (own RSTs) and tap packets until it has stopped.
func (s *scanSession) stopEngine(o *scanOutcome, e env) {
	o.end = e.now()
	o.elapsed = o.end.Sub(o.start)
	o.engineStats = s.eng.Stats()
	o.invalid = o.engineStats.Invalid
	s.eng.Close()
}

// finish flushes the results and the capture, ends the -oX and -oG
// documents and writes the stats, keeping the first write error in o.
func (s *scanSession) finish(ctx context.Context, o *scanOutcome, p *scanPlan, e env, intr *interruption) {
	if err := s.flush(); o.writeErr == nil {
		o.writeErr = err
	}
	s.closeNmap(ctx, o, p, e, intr)
	s.writeStats(o, p)
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
		Sweep:           p.sweep,
		Counts:          o.tally.Counts(),
		RTT:             o.rtt.Percentiles(),
		Retransmissions: o.retransmissions,
		Drops:           o.engineStats.RingDrops + o.engineStats.SendErrors,
		RingDrops:       o.engineStats.RingDrops,
		SendErrors:      o.engineStats.SendErrors,
		Incomplete:      output.IncompleteWarning(o.engineStats) != "",
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
func (s *scanSession) closeNmap(ctx context.Context, o *scanOutcome, p *scanPlan, e env, intr *interruption) {
	stats := output.NmapStats{End: e.now(), Err: o.scanErr}
	switch sig := intr.signal(); {
	case sig != nil && (o.scanErr == nil || ctx.Err() != nil):
		stats.Err = fmt.Errorf("interrupted by %s after %d of %d targets", signalName(sig), o.tally.Probed, p.set.ShardLen(p.shard))
	case o.scanErr != nil && ctx.Err() != nil:
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

// report prints the summary line and returns the scan's exit status. An
// interrupted scan saves its resume state and prints the line saying how
// to resume it; a resumed scan that completes removes its state file.
func (o *scanOutcome) report(ctx context.Context, p *scanPlan, e env, intr *interruption) int {
	losses := ""
	if o.engine == engine.Raw {
		losses = output.LossSummary(o.engineStats)
	}
	summary := o.tally.Summary(o.invalid, o.elapsed)
	if p.sweep {
		summary = o.tally.SweepSummary(o.invalid, o.elapsed)
	}
	fmt.Fprintln(e.stderr, summary+losses+o.timing)
	if w := output.IncompleteWarning(o.engineStats); w != "" {
		fmt.Fprintln(e.stderr, w)
	}
	if sig := intr.signal(); sig != nil && (o.scanErr == nil || ctx.Err() != nil) {
		return o.reportInterrupted(sig, p, e)
	}
	switch {
	case o.scanErr != nil && ctx.Err() != nil:
		return exitStatus(e, fmt.Errorf("interrupted after %d of %d targets", o.tally.Probed, p.set.ShardLen(p.shard)))
	case o.scanErr != nil:
		return exitStatus(e, o.scanErr)
	case o.writeErr != nil:
		return exitStatus(e, o.writeErr)
	}
	if p.resume != nil {
		if err := os.Remove(p.statePath); err != nil {
			return exitStatus(e, fmt.Errorf("the scan is complete, but its resume state stays: %w", err))
		}
	}
	if o.tally.AllOpen() && o.unprobed == 0 {
		return exitAllOpen
	}
	return exitNotAllOpen
}

// reportInterrupted saves the state of a scan interrupted by sig and
// prints the one line that says where it stopped and how to resume it.
func (o *scanOutcome) reportInterrupted(sig os.Signal, p *scanPlan, e env) int {
	if o.writeErr != nil {
		return exitStatus(e, o.writeErr)
	}
	name := signalName(sig)
	if p.wait > 0 {
		fmt.Fprintf(e.stderr, "rawprobe: interrupted by %s\n", name)
		return exitInterrupted(sig)
	}
	if o.left == 0 {
		fmt.Fprintf(e.stderr, "rawprobe: interrupted by %s after every target had its result (seed %d, shard %s): nothing to resume\n", name, p.seed, p.shard)
		if p.resume != nil {
			os.Remove(p.statePath)
		}
		return exitInterrupted(sig)
	}
	st := &resumeState{
		Version:  resumeVersion,
		Args:     p.args,
		Seed:     p.seed,
		Shard:    p.shard.String(),
		Targets:  p.set.ShardLen(p.shard),
		WalkHash: p.set.WalkHash(p.seed, p.shard),
		Position: o.position,
	}
	if p.resume != nil {
		st.Resumes = p.resume.Resumes + 1
	}
	if err := writeResumeState(p.statePath, st); err != nil {
		return exitStatus(e, fmt.Errorf("interrupted by %s, but the resume state was not saved: %w", name, err))
	}
	fmt.Fprintf(e.stderr, "rawprobe: interrupted by %s: seed %d, shard %s, position %d of %d (+%d done beyond it), %d targets left; resume with: rawprobe --resume %s\n",
		name, p.seed, p.shard, o.position.Next, st.Targets, len(o.position.Done), o.left, shellQuote(p.statePath))
	return exitInterrupted(sig)
}

// shellQuote quotes name for a POSIX shell when it needs it.
func shellQuote(name string) string {
	if name != "" && strings.Trim(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-/+=:,@") == "" {
		return name
	}
	return "'" + strings.ReplaceAll(name, "'", `'\''`) + "'"
}
