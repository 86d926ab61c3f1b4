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

func runDemo(ctx context.Context, args []string, e env) int {
	fs := pflag.NewFlagSet("rawprobe demo", pflag.ContinueOnError)
	if code, done := parseFlags(fs, args, demoUsage, e); done {
		return code
	}
	if fs.NArg() > 0 {
		return badInput(e, fmt.Errorf("demo takes no arguments, got %q", fs.Arg(0)))
	}
	return demo.Run(ctx, e.stdout)
}
