package output

import (
	"fmt"
	"time"

	"github.com/rawprobe/rawprobe/rawcheck"
)

// Exit statuses of the rawprobe command.
const (
	// ExitAllOpen: every target probed was open.
	ExitAllOpen = 0
	// ExitNotAllOpen: at least one target was closed, timed out,
	// unreachable or without a route from the prober (or no target was
	// probed).
	ExitNotAllOpen = 1
	// ExitBadInput: a flag or target was invalid; nothing was sent.
	ExitBadInput = 2
	// ExitRuntime: the probe could not run, e.g. the raw engine lacked
	// CAP_NET_RAW.
	ExitRuntime = 3
)

// Tally counts results by state.
type Tally struct {
	Probed, Open, Closed, Timeout, Unreachable, NoRoute uint64
}

// Add counts one result.
func (t *Tally) Add(r rawcheck.Result) {
	t.Probed++
	switch r.State {
	case rawcheck.Open:
		t.Open++
	case rawcheck.Closed:
		t.Closed++
	case rawcheck.Timeout:
		t.Timeout++
	case rawcheck.Unreachable:
		t.Unreachable++
	case rawcheck.NoRoute:
		t.NoRoute++
	}
}

// ExitStatus returns ExitAllOpen when at least one target was probed and
// all were open, else ExitNotAllOpen.
func (t *Tally) ExitStatus() int {
	if t.Probed > 0 && t.Open == t.Probed {
		return ExitAllOpen
	}
	return ExitNotAllOpen
}

// Summary formats the final summary line (without newline): counts by state,
// the engine's invalid replies and the elapsed time.
func (t *Tally) Summary(invalid uint64, elapsed time.Duration) string {
	return fmt.Sprintf("rawprobe: probed %d, open %d, closed %d, timeout %d, unreachable %d, noroute %d, invalid replies %d, elapsed %v",
		t.Probed, t.Open, t.Closed, t.Timeout, t.Unreachable, t.NoRoute, invalid, elapsed.Round(time.Millisecond))
}
