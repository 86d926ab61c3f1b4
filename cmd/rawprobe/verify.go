package main

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/pflag"

	"github.com/rawprobe/rawprobe/pcapverify"
)

const verifyUsage = `Usage: rawprobe verify FILE

Reads a packet capture (pcap or pcapng: tcpdump's, Wireshark's or
rawprobe --pcap's), follows every TCP flow the capture shows opening with a
SYN, and prints one line per flow: prober -> target, the target's reply,
whether the handshake was completed (the prober sent an ACK or data after
the SYN-ACK) and the SYN-ACK -> RST gap; then a summary.

Exit status: 0 no handshake was completed, 1 at least one was (each named
on stderr), 2 the file cannot be read as a capture (missing, not a
capture, truncated).

`

// runVerify is the verify command.
func runVerify(_ context.Context, args []string, e env) int {
	fs := pflag.NewFlagSet("rawprobe verify", pflag.ContinueOnError)
	if err := parseFlags(fs, args, verifyUsage, e); err != nil {
		return exitStatus(e, err)
	}
	if fs.NArg() != 1 {
		return exitStatus(e, badInput(fmt.Errorf("verify takes one capture file, got %d arguments (see rawprobe verify --help)", fs.NArg())))
	}
	r, err := pcapverify.AnalyzeFile(fs.Arg(0))
	if err != nil {
		return exitStatus(e, badInput(err))
	}
	for _, f := range r.Flows {
		fmt.Fprintln(e.stdout, flowLine(f))
	}
	fmt.Fprintf(e.stdout, "%s: %d packets, %d flows: %d syn-ack, %d rst, %d icmp, %d no reply; %d handshakes completed; %v\n",
		r.Path, r.Packets, len(r.Flows), r.SYNACKFlows, r.RSTFlows, r.ICMPFlows, r.NoReplyFlows, r.CompletedFlows, r.Gap)
	if r.CompletedFlows == 0 {
		return exitAllOpen
	}
	for _, f := range r.Flows {
		if f.Completed {
			fmt.Fprintf(e.stderr, "rawprobe: handshake completed: %v -> %v\n", f.Prober, f.Target)
		}
	}
	return exitNotAllOpen
}

// flowLine formats one flow of a verify report.
func flowLine(f pcapverify.Flow) string {
	verdict := "half-open"
	switch {
	case f.Completed:
		verdict = "COMPLETED"
	case f.Reply != pcapverify.SYNACK:
		verdict = "not open"
	}
	gap := "gap -"
	if f.Gap > 0 || !f.FirstRST.IsZero() && !f.FirstSYNACK.IsZero() && !f.FirstRST.Before(f.FirstSYNACK) {
		gap = "gap " + f.Gap.Round(time.Microsecond).String()
	}
	return fmt.Sprintf("%-45s %-8s %-10s %s", f.Prober.String()+" -> "+f.Target.String(), f.Reply, verdict, gap)
}
