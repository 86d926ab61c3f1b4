package main

import (
	"io"
	"net"
	"os"
	"time"

	"github.com/rawprobe/rawprobe/internal/cli/engine"
	"github.com/rawprobe/rawprobe/internal/cli/output"
	"github.com/rawprobe/rawprobe/internal/cli/targets"
)

// env is everything the command takes from its surroundings, so tests can
// run it with a fake engine, fixed clock and captured output.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	// stderrTerminal says whether the progress bar may be drawn.
	stderrTerminal bool
	openEngine     func(name string, cfg engine.Config) (engine.Engine, string, error)
	resolver       targets.Resolver
	now            func() time.Time
	// signals delivers SIGINT and SIGTERM; nil: none come.
	signals <-chan os.Signal
	// listen opens the exporter's listener.
	listen func(network, addr string) (net.Listener, error)
	// dropCaps drops the process's capabilities once the engines, outputs
	// and listener are open; nil drops nothing (tests that run the
	// command inside the test process, which must stay privileged).
	dropCaps func() error
}

func defaultEnv() env {
	return env{
		stdin:          os.Stdin,
		stdout:         os.Stdout,
		stderr:         os.Stderr,
		stderrTerminal: output.IsTerminal(os.Stderr),
		openEngine:     engine.Open,
		resolver:       net.DefaultResolver,
		now:            time.Now,
		listen:         net.Listen,
		dropCaps:       dropAll,
	}
}
