package main

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/rawprobe/rawprobe/internal/cli/output"
	"github.com/rawprobe/rawprobe/rawcheck"
)

// Backoff between the rounds of --wait: the first pause is
// waitFirstBackoff, each next one twice the last, at most waitMaxBackoff,
// so a port that opens is seen within about a second of opening.
const (
	waitFirstBackoff = 100 * time.Millisecond
	waitMaxBackoff   = time.Second
)

// maxWaitTargets bounds the targets of --wait, whose last states it holds.
const maxWaitTargets = 1 << 16

// runWait probes the targets in rounds until every one has been seen open
// or p.wait has passed, pausing between rounds with a bounded backoff. A
// target seen open is not probed again. Each change of a target's state
// (its first result included) is a line on stderr; at the end each
// target's last result is written to the outputs.
func (s *scanSession) runWait(ctx context.Context, p *scanPlan, e env, intr *interruption) *scanOutcome {
	o := &scanOutcome{engine: s.eng.Name()}
	start := e.now()
	o.start = start
	wctx, cancel := context.WithTimeout(ctx, p.wait)
	defer cancel()
	pending := slices.Collect(p.set.Order(p.seed, p.shard))
	last := make(map[netip.AddrPort]rawcheck.Result, len(pending))
	order := slices.Clone(pending) // pending is filtered in place below
	backoff := waitFirstBackoff
	for {
		err := s.eng.Scan(wctx, slices.Values(pending), func(r rawcheck.Result) {
			prev, seen := last[r.Target]
			if !seen || prev.State != r.State {
				from := "probing"
				if seen {
					from = prev.State.String()
				}
				fmt.Fprintf(e.stderr, "rawprobe: %s %s -> %s after %v\n", p.set.Name(r.Target), from, r.State, e.now().Sub(start).Round(time.Millisecond))
			}
			r.Attempts += prev.Attempts // every attempt of every round
			last[r.Target] = r
		})
		if wctx.Err() != nil {
			break
		}
		if err != nil {
			o.scanErr = err
			break
		}
		still := pending[:0]
		for _, t := range pending {
			if last[t].State != rawcheck.Open {
				still = append(still, t)
			}
		}
		pending = still
		if len(pending) == 0 {
			break
		}
		select {
		case <-wctx.Done():
		case <-time.After(backoff):
		}
		if wctx.Err() != nil {
			break
		}
		backoff = min(2*backoff, waitMaxBackoff)
	}
	if ctx.Err() != nil && o.scanErr == nil {
		o.scanErr = ctx.Err()
	}
	s.stopEngine(o, e)
	var unprobed []string
	for _, t := range order {
		r, ok := last[t]
		if !ok {
			unprobed = append(unprobed, p.set.Name(t))
			continue
		}
		o.add(r)
		if o.writeErr == nil {
			o.writeErr = s.w.Write(output.Record{Name: p.set.Name(t), Result: r, Time: e.now()})
		}
	}
	s.finish(ctx, o, p, e, intr)
	if len(unprobed) > 0 && o.scanErr == nil {
		fmt.Fprintf(e.stderr, "rawprobe: --wait %v ended before a result for %d targets: %v\n", p.wait, len(unprobed), unprobed)
		o.unprobed = uint64(len(unprobed))
	}
	if !o.tally.AllOpen() || o.unprobed > 0 {
		fmt.Fprintf(e.stderr, "rawprobe: --wait %v: not every target open\n", p.wait)
	}
	return o
}

// checkWait rejects --wait settings it cannot honour.
func (p *scanPlan) checkWait() error {
	switch {
	case p.wait < 0:
		return errors.New("invalid --wait: want a positive duration such as 60s")
	case p.wait > 0 && p.set.ShardLen(p.shard) > maxWaitTargets:
		return fmt.Errorf("--wait takes at most %d targets, got %d", maxWaitTargets, p.set.ShardLen(p.shard))
	}
	return nil
}
