package main

import (
	"context"
	"fmt"

	"github.com/spf13/pflag"

	"github.com/rawprobe/rawprobe/internal/cli/demo"
)

const demoUsage = `Usage: rawprobe demo

Starts its own targets — an open port, a closed port, a silent address and
an unreachable one — in private network namespaces when run as root (with
the ip and nft commands), otherwise an open and a closed port on loopback;
probes them (raw engine in the namespaces, connect engine on loopback);
prints each result with the packet sequence captured (SYN → SYN-ACK → RST,
no ACK) and a one-line verdict. Exit status 0 when the verdict is PASS.

`

// runDemo is the demo command: 0 when its verdict is PASS, 1 when FAIL, 3
// when it could not run.
func runDemo(ctx context.Context, args []string, e env) int {
	fs := pflag.NewFlagSet("rawprobe demo", pflag.ContinueOnError)
	if err := parseFlags(fs, args, demoUsage, e); err != nil {
		return exitStatus(e, err)
	}
	if fs.NArg() > 0 {
		return exitStatus(e, badInput(fmt.Errorf("demo takes no arguments, got %q", fs.Arg(0))))
	}
	passed, err := demo.Run(ctx, e.stdout, dropForDemo(e))
	switch {
	case err != nil:
		return exitStatus(e, fmt.Errorf("demo: %w", err))
	case passed:
		return exitAllOpen
	}
	return exitNotAllOpen
}
