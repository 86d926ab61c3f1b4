package engine

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rawprobe/rawprobe/internal/epollcheck"
	"github.com/rawprobe/rawprobe/rawcheck"
)

// defaultConnectWindow bounds the connect engine's checks in flight: each
// holds a socket, so it stays well under common file-descriptor limits.
const defaultConnectWindow = 512

// checker is the part of *epollcheck.Engine the connect engine uses.
type checker interface {
	Check(target netip.AddrPort, deadline time.Time, zeroLinger bool) epollcheck.Outcome
}

// connectEngine probes with the epoll engine (package epollcheck): a
// non-blocking connect whose socket is closed with zero linger when the
// SYN-ACK arrives.
type connectEngine struct {
	c       checker
	stop    func() error
	cfg     Config
	window  int
	pace    *pacer
	once    sync.Once
	closeEr error

	sent, retrans, received, open, closed, unreach, timeouts, noRoute atomic.Uint64
}

func openConnect(cfg Config) (Engine, error) {
	c := epollcheck.New()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan struct{})
	done := make(chan error, 1)
	go func() { done <- c.Serve(ctx, func(int) { close(ready) }) }()
	select {
	case <-ready:
	case err := <-done:
		cancel()
		if err == nil {
			err = errors.New("connect engine stopped")
		}
		return nil, err
	}
	stop := func() error { cancel(); return <-done }
	return newConnect(c, stop, cfg), nil
}

func newConnect(c checker, stop func() error, cfg Config) *connectEngine {
	w := cfg.Window
	if w <= 0 {
		w = defaultConnectWindow
	}
	return &connectEngine{c: c, stop: stop, cfg: cfg, window: w, pace: newPacer(cfg.Rate)}
}

// attemptPlan returns how many attempts a probe makes at most and how
// long each may wait for its answer, the defaults applied: the one place
// that reads cfg's attempts and timeout.
func (e *connectEngine) attemptPlan() (attempts int, timeout time.Duration) {
	return e.cfg.attempts(), e.cfg.timeout()
}

func (e *connectEngine) Name() string { return Connect }

func (e *connectEngine) Probe(ctx context.Context, target netip.AddrPort) (rawcheck.Result, error) {
	res := rawcheck.Result{Target: target}
	attempts, timeout := e.attemptPlan()
	for attempt := range attempts {
		if err := e.pace.wait(ctx); err != nil {
			return res, err
		}
		start := time.Now()
		deadline := start.Add(timeout)
		if dl, ok := ctx.Deadline(); ok {
			if !dl.After(start) {
				break
			}
			if dl.Before(deadline) {
				deadline = dl
			}
		}
		o := e.c.Check(target, deadline, true)
		rtt := time.Since(start)
		if o.Kind == epollcheck.NoRoute {
			// connect() failed at once for want of a route: no SYN left.
			// Counted in NoRoute only, not as sent or unreachable.
			res.State = rawcheck.NoRoute
			e.noRoute.Add(1)
			return res, nil
		}
		// Counted once the attempt is over: one that found no route
		// sent nothing.
		res.Attempts++
		e.sent.Add(1)
		if attempt > 0 {
			e.retrans.Add(1)
		}
		switch o.Kind {
		case epollcheck.Stopped, epollcheck.LocalError:
			return res, o.Err
		case epollcheck.Timeout:
			continue
		case epollcheck.Open:
			res.State = rawcheck.Open
			e.open.Add(1)
		case epollcheck.Refused:
			res.State = rawcheck.Closed
			e.closed.Add(1)
		case epollcheck.Unreachable:
			// The kernel reports the ICMP error only as an errno, so
			// ICMPType and ICMPCode stay zero.
			res.State = rawcheck.Unreachable
			e.unreach.Add(1)
		default:
			return res, fmt.Errorf("connect engine: check of %v ended with unknown outcome %v", target, o.Kind)
		}
		res.RTT = rtt
		e.received.Add(1)
		return res, nil
	}
	if err := ctx.Err(); err != nil {
		return res, err
	}
	e.timeouts.Add(1)
	res.State = rawcheck.Timeout
	return res, nil
}

func (e *connectEngine) Scan(ctx context.Context, targets iter.Seq[netip.AddrPort], yield func(rawcheck.Result)) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex // serialises yield and guards firstErr
		firstErr error
		slots    = make(chan struct{}, e.window)
	)
	for t := range targets {
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		wg.Add(1)
		go func() {
			defer func() { <-slots; wg.Done() }()
			res, err := e.Probe(ctx, t)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				if firstErr == nil && ctx.Err() == nil {
					firstErr = &ProbeError{Target: t, Err: err}
				}
				cancel()
				return
			}
			yield(res)
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	return context.Cause(ctx)
}

func (e *connectEngine) Stats() rawcheck.Stats {
	return rawcheck.Stats{
		Sent: e.sent.Load(), Retransmitted: e.retrans.Load(), Received: e.received.Load(),
		Open: e.open.Load(), Closed: e.closed.Load(), Unreachable: e.unreach.Load(), Timeouts: e.timeouts.Load(),
		NoRoute: e.noRoute.Load(),
	}
}

func (e *connectEngine) Close() error {
	e.once.Do(func() { e.closeEr = e.stop() })
	return e.closeEr
}

// ProbeError says which target a Scan stopped at and why.
type ProbeError struct {
	Target netip.AddrPort
	Err    error
}

// Error names the target and the cause.
func (e *ProbeError) Error() string { return "probing " + e.Target.String() + ": " + e.Err.Error() }

// Unwrap returns the cause.
func (e *ProbeError) Unwrap() error { return e.Err }
