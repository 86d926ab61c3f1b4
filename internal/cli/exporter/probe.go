package exporter

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/common/expfmt"

	"github.com/rawprobe/rawprobe/internal/cli/targets"
	"github.com/rawprobe/rawprobe/internal/ratelimit"
	"github.com/rawprobe/rawprobe/rawcheck"
)

// probeMetrics are the gauges of one /probe answer.
type probeMetrics struct {
	success, duration, ipProtocol, rtt, dnsLookup, attempts, state prometheus.Gauge
}

func newProbeMetrics(reg *prometheus.Registry) *probeMetrics {
	g := func(name, help string) prometheus.Gauge {
		m := prometheus.NewGauge(prometheus.GaugeOpts{Name: name, Help: help})
		reg.MustRegister(m)
		return m
	}
	return &probeMetrics{
		success:    g("probe_success", "Displays whether or not the probe was a success (the port answered SYN-ACK)."),
		duration:   g("probe_duration_seconds", "Returns how long the probe took to complete in seconds."),
		ipProtocol: g("probe_ip_protocol", "Specifies whether probe ip protocol is IP4 or IP6."),
		dnsLookup:  g("probe_dns_lookup_time_seconds", "Returns the time taken for probe dns lookup in seconds."),
		rtt:        g("probe_syn_rtt_seconds", "Time from the answered SYN to its reply (SYN-ACK, RST or ICMP), in seconds; 0 on timeout."),
		attempts:   g("probe_syn_attempts", "Number of SYNs sent for this probe."),
		state:      g("probe_syn_state", "Outcome: 0 timeout, 1 open, 2 closed, 3 unreachable (ICMP error), 4 noroute (no route from the prober, nothing sent), -1 error."),
	}
}

func (e *Exporter) serveProbe(w http.ResponseWriter, r *http.Request) {
	if e.slots != nil {
		select {
		case e.slots <- struct{}{}:
			defer func() { <-e.slots }()
		default:
			e.rejected.WithLabelValues("concurrency").Inc()
			http.Error(w, fmt.Sprintf("Too many probes in progress (--max-concurrent %d)", cap(e.slots)), http.StatusServiceUnavailable)
			return
		}
	}
	q := r.URL.Query()
	module := q.Get("module")
	if module == "" {
		module = e.cfg.DefaultModule
	}
	prober, ok := e.cfg.Modules[module]
	if !ok {
		http.Error(w, "Unknown module "+quote(module)+": want one of "+quote(moduleNames(e.cfg.Modules)), http.StatusBadRequest)
		return
	}
	target := q.Get("target")
	if target == "" {
		http.Error(w, "Target parameter is missing", http.StatusBadRequest)
		return
	}
	ep, err := targets.ParseEndpoint(target)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	budget, err := e.timeout(r)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	debug := q.Get("debug") == "true"
	var logs bytes.Buffer
	log := e.cfg.Logger
	if debug {
		log = slog.New(fanout{log.Handler(), slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})})
	}
	log = log.With("module", module, "target", target)

	start := time.Now()
	deadline := start.Add(budget)
	reg := prometheus.NewRegistry()
	m := newProbeMetrics(reg)
	addr, ok := e.resolve(r.Context(), deadline, ep, m, log)
	state := "error"
	if ok {
		if !e.cfg.Policy.Allows(addr) {
			e.rejected.WithLabelValues("policy").Inc()
			log.Debug("probe refused: target not allowed by --allow/--deny", "addr", addr)
			http.Error(w, fmt.Sprintf("Target %s is not allowed (--allow/--deny)", addr), http.StatusForbidden)
			return
		}
		state = e.probe(r.Context(), prober, netip.AddrPortFrom(addr, ep.Port), start, deadline, m, log)
	}
	m.duration.Set(time.Since(start).Seconds())
	e.probes.WithLabelValues(module, state).Inc()
	if debug {
		writeDebug(w, &logs, reg)
		return
	}
	promhttp.HandlerFor(reg, promhttp.HandlerOpts{}).ServeHTTP(w, r)
}

// resolve returns ep's address, looking its host name up (IPv4 first, as
// the command does) before deadline.
func (e *Exporter) resolve(ctx context.Context, deadline time.Time, ep targets.Endpoint, m *probeMetrics, log *slog.Logger) (netip.Addr, bool) {
	addr := ep.Addr
	if ep.Host != "" {
		res := e.cfg.Resolver
		if res == nil {
			res = net.DefaultResolver
		}
		ctx, cancel := context.WithDeadline(ctx, deadline)
		defer cancel()
		t0 := time.Now()
		addrs, err := res.LookupNetIP(ctx, "ip", ep.Host)
		m.dnsLookup.Set(time.Since(t0).Seconds())
		if err != nil || len(addrs) == 0 {
			e.failed.WithLabelValues("resolve").Inc()
			log.Debug("probe failed: name resolution", "err", err)
			m.state.Set(-1)
			return netip.Addr{}, false
		}
		addr = addrs[0]
		for _, a := range addrs {
			if a.Unmap().Is4() {
				addr = a
				break
			}
		}
	}
	addr = addr.Unmap()
	if addr.Is4() {
		m.ipProtocol.Set(4)
	} else {
		m.ipProtocol.Set(6)
	}
	return addr, true
}

// probe sends up to Config.Attempts SYNs to t, one Probe each, attempt i
// ending at start + i*(deadline-start)/Attempts, so that a silent target
// ends as Timeout with its true attempt count at the deadline. It fills m
// and returns the state's name, or "error" for a probe that could not be
// made: one that got no send slot before its deadline is an error
// (rate_limited), never a timeout.
func (e *Exporter) probe(ctx context.Context, p Prober, t netip.AddrPort, start, deadline time.Time, m *probeMetrics, log *slog.Logger) string {
	n := e.cfg.Attempts
	per := deadline.Sub(start) / time.Duration(n)
	sent := 0
	res := rawcheck.Result{Target: t, State: rawcheck.Timeout}
	fail := func(reason string, err error) string {
		e.failed.WithLabelValues(reason).Inc()
		log.Debug("probe failed", "reason", reason, "attempts", sent, "err", err)
		m.state.Set(-1)
		m.attempts.Set(float64(sent))
		return "error"
	}
attempts:
	for i := 1; i <= n; i++ {
		actx, cancel := context.WithDeadline(ctx, start.Add(per*time.Duration(i)))
		r, err := p.Probe(actx, t)
		cancel()
		switch {
		case err == nil:
			sent += r.Attempts
			if r.State != rawcheck.Timeout {
				res = r
				break attempts
			}
		case errors.Is(err, ratelimit.ErrDeadline):
			// Nothing was sent for this attempt.
			if sent == 0 {
				return fail("rate_limited", err)
			}
			log.Debug("no send slot for a retry before its deadline", "attempt", i, "err", err)
			break attempts
		case ctx.Err() != nil:
			return fail("cancelled", err)
		case errors.Is(err, context.DeadlineExceeded):
			// The attempt's SYN left and its time ran out: the
			// connect engine says how many it sent, the raw engine
			// (a zero Result) sent one.
			if r.Target.IsValid() {
				sent += r.Attempts
			} else {
				sent++
			}
		default:
			return fail("engine", err)
		}
	}
	res.Attempts = sent
	log.Debug("probe done", "state", res.State, "attempts", res.Attempts, "rtt", res.RTT)
	m.attempts.Set(float64(res.Attempts))
	m.rtt.Set(res.RTT.Seconds())
	m.state.Set(synState(res.State))
	if res.State == rawcheck.Open {
		m.success.Set(1)
	}
	return res.State.String()
}

// writeDebug answers debug=true as blackbox_exporter does: the probe's log
// lines, then the metrics as text.
func writeDebug(w http.ResponseWriter, logs *bytes.Buffer, reg *prometheus.Registry) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprintf(w, "Logs for the probe:\n%s\n\nMetrics that would have been returned:\n", logs)
	mfs, err := reg.Gather()
	if err != nil {
		fmt.Fprintf(w, "gathering the metrics: %v\n", err)
		return
	}
	for _, mf := range mfs {
		expfmt.MetricFamilyToText(w, mf)
	}
}

// fanout is a slog.Handler that passes each record to all its handlers
// that are enabled for it.
type fanout []slog.Handler

func (f fanout) Enabled(ctx context.Context, l slog.Level) bool {
	for _, h := range f {
		if h.Enabled(ctx, l) {
			return true
		}
	}
	return false
}

func (f fanout) Handle(ctx context.Context, r slog.Record) error {
	var first error
	for _, h := range f {
		if h.Enabled(ctx, r.Level) {
			if err := h.Handle(ctx, r.Clone()); err != nil && first == nil {
				first = err
			}
		}
	}
	return first
}

func (f fanout) WithAttrs(as []slog.Attr) slog.Handler {
	out := make(fanout, len(f))
	for i, h := range f {
		out[i] = h.WithAttrs(as)
	}
	return out
}

func (f fanout) WithGroup(name string) slog.Handler {
	out := make(fanout, len(f))
	for i, h := range f {
		out[i] = h.WithGroup(name)
	}
	return out
}

// synState is the value of probe_syn_state for s, as its help text lists
// them: 0 timeout, 1 open, 2 closed, 3 unreachable, 4 noroute, and -1 (as
// for a probe that could not be made) for a state it does not know.
func synState(s rawcheck.State) float64 {
	switch s {
	case rawcheck.Timeout:
		return 0
	case rawcheck.Open:
		return 1
	case rawcheck.Closed:
		return 2
	case rawcheck.Unreachable:
		return 3
	case rawcheck.NoRoute:
		return 4
	}
	return -1
}
