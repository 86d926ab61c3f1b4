package exporter

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/netip"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/rawprobe/rawprobe/internal/cli/targets"
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
	timeout, err := e.timeout(r)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), timeout)
	defer cancel()

	reg := prometheus.NewRegistry()
	m := newProbeMetrics(reg)
	start := time.Now()
	state := e.probe(ctx, prober, module, target, ep, m)
	m.duration.Set(time.Since(start).Seconds())
	e.probes.WithLabelValues(module, state).Inc()
	promhttp.HandlerFor(reg, promhttp.HandlerOpts{}).ServeHTTP(w, r)
}

// probe resolves and probes ep, fills m and returns the state's name.
func (e *Exporter) probe(ctx context.Context, p Prober, module, target string, ep targets.Endpoint, m *probeMetrics) string {
	addr := ep.Addr
	if ep.Host != "" {
		res := e.cfg.Resolver
		if res == nil {
			res = net.DefaultResolver
		}
		t0 := time.Now()
		addrs, err := res.LookupNetIP(ctx, "ip", ep.Host)
		m.dnsLookup.Set(time.Since(t0).Seconds())
		if err != nil || len(addrs) == 0 {
			e.cfg.Logger.Warn("probe failed: name resolution", "module", module, "target", target, "err", err)
			m.state.Set(-1)
			return "error"
		}
		addr = addrs[0]
		for _, a := range addrs { // IPv4 first, as the command does
			if a.Unmap().Is4() {
				addr = a
				break
			}
		}
		addr = addr.Unmap()
	}
	if addr.Is4() {
		m.ipProtocol.Set(4)
	} else {
		m.ipProtocol.Set(6)
	}
	res, err := p.Probe(ctx, netip.AddrPortFrom(addr, ep.Port))
	if err != nil && errors.Is(err, context.DeadlineExceeded) && ctx.Err() != nil {
		// The scrape's time budget ran out before the engine's own
		// timeout: the target did not answer in time.
		res, err = rawcheck.Result{Target: netip.AddrPortFrom(addr, ep.Port), State: rawcheck.Timeout}, nil
	}
	if err != nil {
		e.cfg.Logger.Warn("probe failed", "module", module, "target", target, "err", err)
		m.state.Set(-1)
		return "error"
	}
	m.attempts.Set(float64(res.Attempts))
	m.rtt.Set(res.RTT.Seconds())
	m.state.Set(synState(res.State))
	if res.State == rawcheck.Open {
		m.success.Set(1)
	}
	return res.State.String()
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
