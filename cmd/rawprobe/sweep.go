package main

import (
	"time"

	"github.com/rawprobe/rawprobe/internal/cli/engine"
	"github.com/rawprobe/rawprobe/internal/cli/targets"
	"github.com/rawprobe/rawprobe/rawcheck"
)

// sweptTargets counts the targets a sweep (--sweep) has taken and records
// in progress, for --resume, those whose SYN has left. A sweep's target is
// done once its SYN has been sent, as its answer may never come; the SYNs
// of the last rawcheck.SweepBatchSize targets taken may still be unsent,
// so those count only once the sweep ended without being cut off. Its
// methods are called under the lock that guards progress.
type sweptTargets struct {
	progress *targets.Progress
	last     [rawcheck.SweepBatchSize]uint64 // positions of the last targets taken
	n        uint64                          // targets taken
}

// took records position j, which the engine has taken: the position taken
// SweepBatchSize before it has now been sent.
func (s *sweptTargets) took(j uint64) {
	slot := &s.last[s.n%rawcheck.SweepBatchSize]
	if s.n >= rawcheck.SweepBatchSize {
		s.progress.Done(*slot)
	}
	*slot = j
	s.n++
}

// sentAll records that every target taken has been sent: the sweep
// returned without being cut off.
func (s *sweptTargets) sentAll() {
	for i := s.n - min(s.n, rawcheck.SweepBatchSize); i < s.n; i++ {
		s.progress.Done(s.last[i%rawcheck.SweepBatchSize])
	}
}

// sweepGrace is how long a sweep may go on after a stop: the SYNs of the
// targets it has taken (at most rawcheck.SweepBatchSize, at the rate)
// and its wait of one timeout for their answers, and a quarter second
// more, so that a stop with nothing else going wrong never cuts off a
// SYN still to send.
func sweepGrace(cfg engine.Config) time.Duration {
	grace := cfg.AttemptTimeout() + 250*time.Millisecond
	if cfg.Rate > 0 {
		grace += time.Duration(rawcheck.SweepBatchSize) * time.Second / time.Duration(cfg.Rate)
	}
	return grace
}
