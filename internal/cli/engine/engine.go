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
// ignored (the connect engine uses Rate, Timeout, Retries and Window).
type Config struct {
	// Rate limits SYNs (attempts) per second; 0 means unlimited.
	Rate int
	// Timeout is the time one attempt waits; 0 means 1s.
	Timeout time.Duration
	// Retries is the number of extra attempts; 0 means none.
	Retries int
	// Window bounds the probes in flight in Scan; 0 means the engine's
	// default.
	Window int
	// SourcePorts is the raw engine's source-port range; zero means its
	// default.
	SourcePorts [2]uint16
	// Interface forces the raw engine's probes out of one interface.
	Interface string
	// OwnRST makes the raw engine send its own RST.
	OwnRST bool
	// Tap sees every packet the raw engine sends and receives.
	Tap rawcheck.PacketTap
}

func (c Config) timeout() time.Duration {
	if c.Timeout <= 0 {
		return time.Second
	}
	return c.Timeout
}

// Open returns the engine called name. With name Auto it returns the raw
// engine when it can be opened (Linux with CAP_NET_RAW) and otherwise the
// connect engine, along with a one-line note saying why.
// Without CAP_NET_RAW, Open(Raw, ...) fails with an error for which
// errors.Is(err, os.ErrPermission) holds.
func Open(name string, cfg Config) (e Engine, note string, err error) {
	switch name {
	case Raw:
		e, err = openRaw(cfg)
		return e, "", err
	case Connect:
		e, err = openConnect(cfg)
		return e, "", err
	case Auto:
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
	return nil, "", fmt.Errorf("unknown engine %q: want raw or connect", name)
}
