package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/rawprobe/rawprobe/internal/cli/output"
	"github.com/rawprobe/rawprobe/internal/cli/targets"
)

// resumeVersion marks the state file's format.
const resumeVersion = 1

// resumeState is what an interrupted scan leaves for --resume: its
// command line (as typed, for the flags and targets), the walk it was on
// and how far it came. Every target whose position the state does not
// count as done is probed by the resumed run; those it counts have their
// result in the interrupted run's outputs already.
type resumeState struct {
	Version int      `json:"rawprobe_resume"`
	Args    []string `json:"args"`
	Seed    uint64   `json:"seed"`
	Shard   string   `json:"shard"`
	// Targets is the shard's size; WalkHash identifies the walk (blocks
	// in order, seed, shard), which must be the same when resumed.
	Targets  uint64 `json:"targets"`
	WalkHash string `json:"walk_hash"`
	// Resumes counts the runs resumed from this scan so far; the nmap XML
	// and --stats-file documents of the n-th are written to FILE.n.
	Resumes  int              `json:"resumes"`
	Position targets.Position `json:"position"`
}

// resumeStatePath is where an interrupted scan writes its state: beside
// -o FILE as FILE.resume, else rawprobe.resume in the current directory.
func resumeStatePath(outFile string) string {
	if outFile == "" || outFile == "-" {
		return "rawprobe.resume"
	}
	return outFile + ".resume"
}

// readResumeState reads the state file name.
func readResumeState(name string) (*resumeState, error) {
	b, err := os.ReadFile(name)
	if err != nil {
		return nil, err
	}
	var st resumeState
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("--resume %s: not a rawprobe resume state: %v", name, err)
	}
	if st.Version != resumeVersion {
		return nil, fmt.Errorf("--resume %s: not a rawprobe resume state of version %d", name, resumeVersion)
	}
	return &st, nil
}

// checkResume checks that the plan rebuilt from st's command line walks
// the same targets in the same order, and makes it continue st.
func (p *scanPlan) checkResume(st *resumeState, name string) error {
	p.seed = st.Seed
	if got := p.shard.String(); got != st.Shard {
		return fmt.Errorf("--resume %s: shard %s, but the command line gives %s", name, st.Shard, got)
	}
	if p.wait > 0 {
		return fmt.Errorf("--resume %s: a --wait run is not resumed", name)
	}
	if p.set.ShardLen(p.shard) != st.Targets || p.set.WalkHash(p.seed, p.shard) != st.WalkHash {
		return fmt.Errorf("--resume %s: the targets are not those of the interrupted scan (an input or exclude file or a host name's address changed)", name)
	}
	p.resume = st
	return p.checkPcapAppend()
}

// checkPcapAppend checks that a resumed run's --pcap file, if it holds
// anything, is a capture this command wrote, which packets can be
// appended to.
func (p *scanPlan) checkPcapAppend() error {
	if p.pcapFile == "" {
		return nil
	}
	f, err := os.Open(p.pcapFile)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	head := make([]byte, 24)
	n, err := io.ReadFull(f, head)
	switch {
	case n == 0:
		return nil
	case err != nil || !output.IsPcapTapFile(head):
		return fmt.Errorf("--resume: --pcap %s is not a capture rawprobe wrote (nanosecond pcap, link type RAW): packets cannot be appended to it", p.pcapFile)
	}
	p.pcapAppend = true
	return nil
}

// writeResumeState writes the state of an interrupted scan to name,
// replacing the previous one.
func writeResumeState(name string, st *resumeState) error {
	b, err := json.Marshal(st)
	if err != nil {
		return err
	}
	fs, err := openOutputFiles([]outputFile{{name: name}}, privileged())
	if err != nil {
		return err
	}
	f := fs[0]
	if _, err := f.Write(append(b, '\n')); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// resumedName returns the name of an nmap XML or --stats-file document of
// a resumed run: each run's is a whole document of its own, so the n-th
// resumed run writes FILE.n and leaves the earlier runs' documents alone.
func (p *scanPlan) resumedName(name string) string {
	if p.resume == nil || name == "" || name == "-" {
		return name
	}
	return fmt.Sprintf("%s.%d", name, p.resume.Resumes+1)
}
