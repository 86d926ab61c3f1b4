package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/netip"

	"github.com/rawprobe/rawprobe/internal/cli/output"
)

// maxDiffLine is the longest line --diff reads from a previous run.
const maxDiffLine = 64 << 10

// previousRun is the state of each target of a previous run's JSONL
// output, for --diff.
type previousRun map[netip.AddrPort]string

// readPreviousRun reads a JSONL output of rawprobe (its stats line, if
// any, skipped). A line that is not such a record is an error naming it.
func readPreviousRun(r io.Reader, name string) (previousRun, error) {
	prev := previousRun{}
	s := bufio.NewScanner(r)
	s.Buffer(make([]byte, 0, 4096), maxDiffLine)
	for n := 1; s.Scan(); n++ {
		if len(s.Bytes()) == 0 {
			continue
		}
		var rec struct {
			IP    string          `json:"ip"`
			Port  uint16          `json:"port"`
			State string          `json:"state"`
			Stats json.RawMessage `json:"stats"`
		}
		if err := json.Unmarshal(s.Bytes(), &rec); err != nil {
			return nil, fmt.Errorf("--diff %s: line %d: not a JSONL record of rawprobe: %v", name, n, err)
		}
		if rec.Stats != nil {
			continue
		}
		ip, err := netip.ParseAddr(rec.IP)
		if err != nil || rec.Port == 0 || rec.State == "" {
			return nil, fmt.Errorf("--diff %s: line %d: want a record with ip, port and state (rawprobe --format jsonl)", name, n)
		}
		prev[netip.AddrPortFrom(ip.Unmap(), rec.Port)] = rec.State
	}
	if err := s.Err(); err != nil {
		return nil, fmt.Errorf("--diff %s: %w", name, err)
	}
	return prev, nil
}

// diffWriter passes on only the records whose state differs from the
// previous run's, or whose target that run did not probe.
type diffWriter struct {
	output.Writer
	prev previousRun
}

func (d diffWriter) Write(r output.Record) error {
	t := netip.AddrPortFrom(r.Result.Target.Addr().Unmap(), r.Result.Target.Port())
	if was, ok := d.prev[t]; ok && was == r.Result.State.String() {
		return nil
	}
	return d.Writer.Write(r)
}
