package main

import (
	"errors"
	"fmt"
	"os"
	"syscall"

	"github.com/spf13/pflag"

	"github.com/rawprobe/rawprobe/internal/cli/engine"
	"github.com/rawprobe/rawprobe/rawcheck"
)

// Exit statuses of the command. They are decided here and in the run
// functions of this package only; the internal packages return results and
// errors, never statuses.
const (
	// exitAllOpen: every target probed was open (also: help, a clean
	// shutdown of serve, a PASS verdict of demo).
	exitAllOpen = 0
	// exitNotAllOpen: at least one target was closed, timed out,
	// unreachable or without a route from the prober, or no target was
	// probed (also: a FAIL verdict of demo).
	exitNotAllOpen = 1
	// exitBadInput: a flag, target or file named on the command line
	// cannot be used; nothing was sent.
	exitBadInput = 2
	// exitRuntime: the command could not run, e.g. the raw engine lacked
	// CAP_NET_RAW or an output file could not be written.
	exitRuntime = 3
	// exitSIGINT and exitSIGTERM: the scan was interrupted by that signal
	// (128 plus its number, as a shell reports a process it killed); every
	// result it had was written and the state for --resume saved.
	exitSIGINT  = 130
	exitSIGTERM = 143
)

// exitInterrupted returns the exit status of a scan interrupted by sig.
func exitInterrupted(sig os.Signal) int {
	if sig == syscall.SIGTERM {
		return exitSIGTERM
	}
	return exitSIGINT
}

// inputError marks an error as bad input: a flag, target or input file the
// command cannot use, found before anything was opened or sent.
type inputError struct{ err error }

func (e inputError) Error() string { return e.err.Error() }
func (e inputError) Unwrap() error { return e.err }

// badInput marks err as bad input.
func badInput(err error) error { return inputError{err} }

// isBadInput reports whether err is the user's: marked by this package, a
// setting the engines reject (a *rawcheck.ConfigError or an
// *engine.UnknownEngineError), wherever it surfaced, or an output path
// refused for being a symbolic link (nothing has been sent then).
func isBadInput(err error) bool {
	var ie inputError
	var ce *rawcheck.ConfigError
	var ue *engine.UnknownEngineError
	return errors.As(err, &ie) || errors.As(err, &ce) || errors.As(err, &ue) || isSymlinkRefusal(err)
}

// exitStatus reports err on stderr and returns its exit status: 0 for
// help (already printed), 2 for bad input, 3 for anything else.
func exitStatus(e env, err error) int {
	if errors.Is(err, pflag.ErrHelp) {
		return exitAllOpen
	}
	fmt.Fprintf(e.stderr, "rawprobe: %v\n", err)
	if isBadInput(err) {
		return exitBadInput
	}
	return exitRuntime
}
