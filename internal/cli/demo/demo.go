// Package demo implements "rawprobe demo": it starts its own targets — an
// open port, a closed port, a silent address and an unreachable one — in
// private network namespaces when it may (Linux, root, ip and nft), or an
// open and a closed port on loopback otherwise; probes them; prints each
// result with the packet sequence captured on the wire; and ends with a
// one-line verdict. Everything it creates is removed before it returns.
package demo

import (
	"context"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"time"

	"github.com/rawprobe/rawprobe/internal/privdrop"
	"github.com/rawprobe/rawprobe/internal/verify/pcapcheck"
	"github.com/rawprobe/rawprobe/rawcheck"
)

// Target is one built-in target and the state it must be found in.
type Target struct {
	Label  string
	Addr   netip.AddrPort
	Expect rawcheck.State
}

// outcome is what the demo observed for one target.
type outcome struct {
	Target
	Result rawcheck.Result
	Err    error
	// Flow is the captured handshake; nil without a capture.
	Flow *pcapcheck.Flow
}

// observation is a whole demo run, ready to be printed and judged.
type observation struct {
	Mode     string // first line: engine and where the targets live
	Outcomes []outcome
	// Captured says whether packets were captured; Report is the analysis
	// (nil when not captured); CaptureNote says why not.
	Captured    bool
	Report      *pcapcheck.Report
	CaptureNote string
	// Accepted is the number of connections the open port's application
	// accepted: it must stay 0.
	Accepted int64
	Elapsed  time.Duration
}

// DropFunc drops the process's capabilities but keep, which stay
// permitted and not effective (privdrop.Drop).
type DropFunc func(keep ...privdrop.Capability) error

// Run runs the demo, writing to w, and reports whether the verdict is
// PASS. The error is non-nil when the demo could not run (its targets or
// its engine could not be set up); nothing is judged then. In the
// namespaces, drop (unless nil) is called once the prober's engine is
// open, so that the prober probes with no effective capability.
func Run(ctx context.Context, w io.Writer, drop DropFunc) (passed bool, err error) {
	start := time.Now()
	obs, note, err := runNamespaces(ctx, drop)
	if obs == nil && err == nil {
		fmt.Fprintf(w, "rawprobe demo: %s; using loopback and the connect engine instead\n", note)
		obs, err = runLoopback(ctx)
	}
	if err != nil {
		return false, err
	}
	obs.Elapsed = time.Since(start)
	return obs.print(w), nil
}

// sequence describes a captured flow as arrows, e.g.
// "SYN → SYN-ACK → RST".
func sequence(f *pcapcheck.Flow) string {
	if f == nil {
		return "(not captured)"
	}
	parts := []string{"SYN"}
	if f.SYNs > 1 {
		parts[0] = fmt.Sprintf("SYN ×%d", f.SYNs)
	}
	switch f.Reply {
	case pcapcheck.SYNACK:
		parts = append(parts, "SYN-ACK")
	case pcapcheck.RST:
		parts = append(parts, "RST (from target)")
	case pcapcheck.ICMP:
		parts = append(parts, fmt.Sprintf("ICMP unreachable type %d code %d", f.ICMPType, f.ICMPCode))
	default:
		parts = append(parts, "no reply")
	}
	for range f.ProberRSTs {
		parts = append(parts, "RST")
	}
	for range f.ProberACKs {
		parts = append(parts, "ACK!")
	}
	return strings.Join(parts, " → ")
}

// judge returns the problems that make the run fail; none means PASS.
func (o *observation) judge() []string {
	var bad []string
	for _, oc := range o.Outcomes {
		switch {
		case oc.Err != nil:
			bad = append(bad, fmt.Sprintf("%s: %v", oc.Label, oc.Err))
		case oc.Result.State != oc.Expect:
			bad = append(bad, fmt.Sprintf("%s: %s, want %s", oc.Label, oc.Result.State, oc.Expect))
		}
		if !o.Captured {
			continue
		}
		f := oc.Flow
		switch {
		case oc.Err == nil && oc.Result.State == rawcheck.NoRoute:
			// The engine found no route and sent nothing: a SYN on the
			// wire would contradict it.
			if f != nil {
				bad = append(bad, fmt.Sprintf("%s: reported noroute, but the capture holds %d SYN(s) to it", oc.Label, f.SYNs))
			}
		case f == nil:
			bad = append(bad, fmt.Sprintf("%s: no SYN captured", oc.Label))
		case f.ProberACKs > 0:
			bad = append(bad, fmt.Sprintf("%s: the prober sent %d ACK or data segments", oc.Label, f.ProberACKs))
		case f.Reply == pcapcheck.SYNACK && f.ProberRSTs != 1:
			bad = append(bad, fmt.Sprintf("%s: %d RSTs answered the SYN-ACK, want exactly 1", oc.Label, f.ProberRSTs))
		}
	}
	if o.Report != nil {
		if err := o.Report.Err(); err != nil {
			bad = append(bad, err.Error())
		}
	}
	if o.Accepted != 0 {
		bad = append(bad, fmt.Sprintf("the application behind the open port accepted %d connections", o.Accepted))
	}
	return bad
}

// print writes the results and the verdict and reports whether it is
// PASS.
func (o *observation) print(w io.Writer) (passed bool) {
	fmt.Fprintln(w, o.Mode)
	for _, oc := range o.Outcomes {
		res := oc.Result
		detail := "rtt " + res.RTT.Round(time.Microsecond).String()
		seq := sequence(oc.Flow)
		switch res.State {
		case rawcheck.Timeout:
			detail = fmt.Sprintf("%d attempts", res.Attempts)
		case rawcheck.NoRoute:
			detail = "nothing sent"
			if oc.Flow == nil {
				seq = "no SYN (no route from the prober)"
			}
		}
		state := res.State.String()
		if oc.Err != nil {
			state, detail = "error", oc.Err.Error()
		}
		line := fmt.Sprintf("  %-12s %-22s %-12s %-14s", oc.Label, oc.Addr, state, detail)
		if o.Captured {
			line += "  " + seq
		}
		fmt.Fprintln(w, strings.TrimRight(line, " "))
	}
	if !o.Captured {
		fmt.Fprintf(w, "  (no packet capture: %s)\n", o.CaptureNote)
	}
	bad := o.judge()
	if len(bad) == 0 {
		what := "the handshake was never completed (no ACK sent)"
		if !o.Captured {
			what = "the handshake was never completed"
		}
		fmt.Fprintf(w, "verdict: PASS — %d targets as expected; %s; the application accepted %d connections (%v)\n",
			len(o.Outcomes), what, o.Accepted, o.Elapsed.Round(time.Millisecond))
		return true
	}
	fmt.Fprintf(w, "verdict: FAIL — %s\n", strings.Join(bad, "; "))
	return false
}
