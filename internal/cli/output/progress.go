package output

import (
	"io"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/rawprobe/rawprobe/rawcheck"
)

// IsTerminal reports whether f is a terminal.
func IsTerminal(f *os.File) bool { return term.IsTerminal(int(f.Fd())) }

// Progress shows a progress bar of probed targets: rate, count, open found,
// percent and ETA. A nil *Progress does nothing, so callers need not check.
type Progress struct {
	mu        sync.Mutex
	bar       *progressbar.ProgressBar
	open      uint64
	described time.Time
}

// NewProgress returns a bar over total targets written to w, or nil when
// show is false (stderr is not a terminal).
func NewProgress(w io.Writer, total uint64, show bool) *Progress {
	if !show {
		return nil
	}
	return &Progress{bar: progressbar.NewOptions64(int64(total),
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription("open 0"),
		progressbar.OptionShowCount(),
		progressbar.OptionShowIts(),
		progressbar.OptionSetItsString("targets"),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionClearOnFinish(),
	)}
}

// Add counts one probed target.
func (p *Progress) Add(r rawcheck.Result) {
	p.Answer(r)
	p.Sent()
}

// Sent counts one target done without its result: in a sweep, the targets
// are counted as they are sent, and their answers (Answer) only show in
// the count of open ones.
func (p *Progress) Sent() {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.bar.Add64(1)
}

// Answer counts r in the open targets shown, if it is open.
func (p *Progress) Answer(r rawcheck.Result) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if r.State == rawcheck.Open {
		p.open++
		if now := time.Now(); now.Sub(p.described) > 100*time.Millisecond {
			p.described = now
			p.bar.Describe("open " + strconv.FormatUint(p.open, 10))
		}
	}
}

// Finish removes the bar from the terminal.
func (p *Progress) Finish() {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.bar.Finish()
}
