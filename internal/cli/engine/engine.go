// Package engine puts rawprobe's two probing engines behind one interface:
// the raw engine (package rawcheck, needs CAP_NET_RAW) and the connect
// engine (package internal/epollcheck, needs no privilege). Open picks one
// by name, or the raw engine when the process may use it and the connect
// engine otherwise.
package engine

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"net/netip"
	"os"
	"time"

	"github.com/rawprobe/rawprobe/rawcheck"
)

// Engine probes TCP endpoints. Its methods are safe for concurrent use.
type Engine interface {
	// Name returns "raw" or "connect".
	Name() string
	// Probe probes one target, retries included. A ctx deadline shortens
	// the attempts. The error is non-nil only when the probe could not be
	// made (not for closed or silent targets). Both engines treat a target
	// the prober has no route to alike: no error, but a Result with State
	// rawcheck.NoRoute (nothing was sent; Attempts, RTT, TTL, ICMPType and
	// ICMPCode are zero), counted in Stats.NoRoute and not in
	// Stats.Unreachable.
	Probe(ctx context.Context, target netip.AddrPort) (rawcheck.Result, error)
	// Scan probes every target and calls yield once per target, from one
	// goroutine at a time, in completion order. It returns when all are
	// done, ctx is cancelled, or a probe could not be made; a target
	// without a route does not stop it (it gets the NoRoute Result
	// Probe describes).
	Scan(ctx context.Context, targets iter.Seq[netip.AddrPort], yield func(rawcheck.Result)) error
	// Stats returns the engine's counters.
	Stats() rawcheck.Stats
	// Close releases the engine; it is idempotent.
	Close() error
}

// Names of the engines, as --engine takes them.
const (
	Raw     = "raw"
	Connect = "connect"
	Auto    = ""
)

// Config configures either engine; fields an engine has no use for are
// ignored (the connect engine uses Rate, Timeout, Attempts and Window).
//
// Every field means what the rawcheck.Config field of the same name means,
// zero values included, so that a Config reaches either engine unchanged:
// a zero Timeout or Attempts means rawcheck's default, applied by
// rawcheck.Config.WithDefaults and nowhere else; a zero Window means the
// engine's own default (the connect engine holds a socket per probe in
// flight, so it keeps fewer). The ranges are checked by
// rawcheck.Config.Validate, through Validate.
type Config struct {
	// Rate limits SYNs (attempts) per second; 0 means unlimited.
	Rate int
	// Timeout is the time one attempt waits; 0 means
	// rawcheck.DefaultTimeout.
	Timeout time.Duration
	// Attempts is the number of SYNs (connects) sent at most to a target
	// that does not answer, the first included: 1 means no retry. 0 means
	// adaptive for the raw engine (see rawcheck.Config.Attempts) and
	// rawcheck.DefaultAttempts for the connect engine.
	Attempts int
	// AttemptCeiling bounds the raw engine's adaptive attempts; 0 means
	// rawcheck.DefaultAttemptCeiling.
	AttemptCeiling int
	// Window bounds the probes in flight in Scan; 0 means the engine's
	// default.
	Window int
	// SourcePorts is the raw engine's source-port range; zero means its
	// default.
	SourcePorts [2]uint16
	// ForceSourcePorts accepts a SourcePorts range below 1024 or inside
	// the kernel's ephemeral port range (rawcheck.Config.ForceSourcePorts).
	ForceSourcePorts bool
	// Interface forces the raw engine's probes out of one interface.
	Interface string
	// OwnRST makes the raw engine send its own RST.
	OwnRST bool
	// Tap sees every packet the raw engine sends and receives.
	Tap rawcheck.PacketTap
}

// probeConfig returns c as the rawcheck.Config it stands for.
func (c Config) probeConfig() rawcheck.Config {
	return rawcheck.Config{
		SourcePorts:      c.SourcePorts,
		ForceSourcePorts: c.ForceSourcePorts,
		Interface:        c.Interface,
		Rate:             c.Rate,
		Timeout:          c.Timeout,
		Attempts:         c.Attempts,
		AttemptCeiling:   c.AttemptCeiling,
		Window:           c.Window,
		OwnRST:           c.OwnRST,
		Tap:              c.Tap,
	}
}

// timeout returns the time one attempt waits, the default applied.
func (c Config) timeout() time.Duration { return c.probeConfig().WithDefaults().Timeout }

// attempts returns the number of attempts per target, the default applied.
func (c Config) attempts() int { return c.probeConfig().WithDefaults().Attempts }

// UnknownEngineError reports an engine name that is none of Raw, Connect
// and Auto.
type UnknownEngineError struct{ Name string }

// Error names the engine asked for and the ones there are.
func (e *UnknownEngineError) Error() string {
	return fmt.Sprintf("unknown engine %q: want raw or connect", e.Name)
}

// Validate checks an engine name and a Config before anything is opened:
// it returns an *UnknownEngineError for a name that is none of Raw,
// Connect and Auto, a *rawcheck.ConfigError for a setting out of range
// (for either engine), and nil when Open may be called. Open calls it
// first; a caller that must reject bad settings before doing anything
// else (a command line) calls it itself.
func Validate(name string, cfg Config) error {
	switch name {
	case Raw, Connect, Auto:
	default:
		return &UnknownEngineError{Name: name}
	}
	return cfg.probeConfig().Validate()
}

// Open returns the engine called name. With name Auto it returns the raw
// engine when it can be opened (Linux with CAP_NET_RAW) and otherwise the
// connect engine, along with a one-line note saying why.
// Without CAP_NET_RAW, Open(Raw, ...) fails with an error for which
// errors.Is(err, os.ErrPermission) holds. A name or setting Validate
// rejects fails with its error, and nothing is opened.
func Open(name string, cfg Config) (e Engine, note string, err error) {
	if err := Validate(name, cfg); err != nil {
		return nil, "", err
	}
	switch name {
	case Raw:
		e, err = openRaw(cfg)
		return e, "", err
	case Connect:
		e, err = openConnect(cfg)
		return e, "", err
	}
	e, err = openRaw(cfg)
	if err == nil {
		return e, "", nil
	}
	why := "the raw engine is not available"
	if errors.Is(err, os.ErrPermission) {
		why = "the process lacks CAP_NET_RAW"
	}
	note = fmt.Sprintf("rawprobe: using the connect engine because %s (%v)", why, err)
	e, err = openConnect(cfg)
	return e, note, err
}
