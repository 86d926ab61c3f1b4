package engine

import (
	"context"
	"errors"
	"iter"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/rawprobe/rawprobe/compat"
	"github.com/rawprobe/rawprobe/rawcheck"
)

// defaultConnectWindow bounds the connect engine's checks in flight: each
// holds a socket, so it stays well under common file-descriptor limits.
const defaultConnectWindow = 512

// checker is the part of *compat.Checker the connect engine uses.
type checker interface {
	CheckAddr(addr string, timeout time.Duration) error
}

// connectEngine probes with compat's Checker: a non-blocking connect whose
// socket is closed with zero linger when the SYN-ACK arrives.
type connectEngine struct {
	c checker
	// hasRoute reports whether the kernel has a route to a target
	// (kernelHasRoute; tests replace it).
	hasRoute func(netip.AddrPort) bool
	stop     func() error
	cfg      Config
	window   int
	pace     *pacer
	once     sync.Once
	closeEr  error

	sent, retrans, received, open, closed, unreach, timeouts, noRoute atomic.Uint64
}

func openConnect(cfg Config) (Engine, error) {
	c := compat.NewChecker()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.CheckingLoop(ctx) }()
	select {
	case <-c.WaitReady():
	case err := <-done:
		cancel()
		if err == nil {
			err = errors.New("checking loop stopped")
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
	return &connectEngine{c: c, hasRoute: kernelHasRoute, stop: stop, cfg: cfg, window: w, pace: newPacer(cfg.Rate)}
}

// kernelHasRoute reports whether the calling thread's network namespace
// has a route to target: connect() on a UDP socket looks the route up and
// fails with ENETUNREACH or EHOSTUNREACH without one. It sends nothing.
func kernelHasRoute(target netip.AddrPort) bool {
	c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(target))
	if err != nil {
		return !errors.Is(err, syscall.ENETUNREACH) && !errors.Is(err, syscall.EHOSTUNREACH)
	}
	c.Close()
	return true
}

func (e *connectEngine) Name() string { return Connect }

func (e *connectEngine) Probe(ctx context.Context, target netip.AddrPort) (rawcheck.Result, error) {
	res := rawcheck.Result{Target: target}
	addr := target.String()
	for attempt := range e.cfg.attempts() {
		if err := e.pace.wait(ctx); err != nil {
			return res, err
		}
		timeout := e.cfg.timeout()
		if dl, ok := ctx.Deadline(); ok {
			left := time.Until(dl)
			if left <= 0 {
				break
			}
			timeout = min(timeout, left)
		}
		start := time.Now()
		err := e.c.CheckAddr(addr, timeout)
		rtt := time.Since(start)
		var ce *compat.ErrConnect
		if attempt == 0 && errors.As(err, &ce) && (ce.Errno == syscall.ENETUNREACH || ce.Errno == syscall.EHOSTUNREACH) && !e.hasRoute(target) {
			// connect() failed at once for want of a route: no SYN left.
			// The same result as the raw engine's (rawcheck.Prober.Probe).
			e.noRoute.Add(1)
			e.unreach.Add(1)
			return rawcheck.Result{Target: target, State: rawcheck.Unreachable}, nil
		}
		// Counted once the attempt is over: one that found no route
		// sent nothing.
		res.Attempts++
		e.sent.Add(1)
		if attempt > 0 {
			e.retrans.Add(1)
		}
		switch {
		case err == nil:
			res.State, res.RTT = rawcheck.Open, rtt
			e.received.Add(1)
			e.open.Add(1)
			return res, nil
		case errors.Is(err, compat.ErrTimeout):
			continue
		case errors.As(err, &ce):
			if errors.Is(err, syscall.ECONNREFUSED) {
				res.State, res.RTT = rawcheck.Closed, rtt
				e.closed.Add(1)
			} else if errors.Is(err, syscall.EHOSTUNREACH) || errors.Is(err, syscall.ENETUNREACH) {
				// The kernel reports the ICMP error only as an errno, so
				// ICMPType and ICMPCode stay zero.
				res.State, res.RTT = rawcheck.Unreachable, rtt
				e.unreach.Add(1)
			} else {
				return res, err
			}
			e.received.Add(1)
			return res, nil
		default:
			return res, err
		}
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
