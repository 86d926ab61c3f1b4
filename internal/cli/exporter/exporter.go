// Package exporter serves rawprobe as a Prometheus exporter compatible with
// blackbox_exporter's probe endpoint: GET /probe?target=host:port&module=syn
// probes one target and answers with probe_success, probe_duration_seconds,
// probe_ip_protocol, probe_syn_rtt_seconds and friends; /metrics serves the
// engines' own counters. Concurrent scrapes share the engines.
package exporter

import (
	"context"
	"fmt"
	"html"
	"log/slog"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/rawprobe/rawprobe/internal/cli/buildinfo"
	"github.com/rawprobe/rawprobe/internal/cli/targets"
	"github.com/rawprobe/rawprobe/rawcheck"
)

// Prober probes one target; engine.Engine implements it.
type Prober interface {
	Probe(ctx context.Context, target netip.AddrPort) (rawcheck.Result, error)
	Stats() rawcheck.Stats
}

// Config configures an Exporter.
type Config struct {
	// Modules maps a module name ("syn", "connect") to its prober. Several
	// names may share one prober.
	Modules map[string]Prober
	// DefaultModule is used when a request names none.
	DefaultModule string
	// Timeout bounds one probe, as a blackbox_exporter module's timeout
	// does; 0 means 5s. The scrape timeout header can only shorten it.
	Timeout time.Duration
	// TimeoutOffset is subtracted from the scrape timeout Prometheus sends
	// in X-Prometheus-Scrape-Timeout-Seconds, to leave time for the
	// answer; 0 means 0.5s, blackbox_exporter's default.
	TimeoutOffset time.Duration
	// Resolver looks host names up; nil means net.DefaultResolver.
	Resolver targets.Resolver
	// Logger receives one line per probe at debug level and one per
	// refused request; nil means slog.Default().
	Logger *slog.Logger
	// Attempts is the number of SYNs a silent target gets at most; 0
	// means rawcheck.DefaultAttempts. The exporter times them itself: the
	// probe's budget is split evenly among them, so the last ends with
	// the budget, and each prober should send one SYN per Probe.
	Attempts int
	// MaxConcurrent bounds the /probe requests served at once; those
	// beyond it are answered 503 at once. 0 means no bound.
	MaxConcurrent int
	// Policy says which addresses may be probed; the others are answered
	// 403 and nothing is sent.
	Policy Policy
	// Build is served as rawprobe_build_info.
	Build buildinfo.Info
}

// Exporter is an http.Handler serving /probe, /metrics and an index page.
type Exporter struct {
	cfg      Config
	mux      *http.ServeMux
	probes   *prometheus.CounterVec
	failed   *prometheus.CounterVec
	rejected *prometheus.CounterVec
	slots    chan struct{} // nil: no bound
}

// New returns an Exporter. It fails when DefaultModule is not in Modules.
func New(cfg Config) (*Exporter, error) {
	if _, ok := cfg.Modules[cfg.DefaultModule]; !ok {
		return nil, fmt.Errorf("exporter: default module %q is not among the modules %v", cfg.DefaultModule, moduleNames(cfg.Modules))
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 5 * time.Second
	}
	if cfg.TimeoutOffset <= 0 {
		cfg.TimeoutOffset = 500 * time.Millisecond
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Attempts <= 0 {
		cfg.Attempts = rawcheck.DefaultAttempts
	}
	e := &Exporter{cfg: cfg, mux: http.NewServeMux()}
	if cfg.MaxConcurrent > 0 {
		e.slots = make(chan struct{}, cfg.MaxConcurrent)
	}
	e.failed = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "rawprobe_exporter_probes_failed_total",
		Help: "Probes that could not be made, by reason (rate_limited: no send slot before the deadline; resolve; cancelled; engine).",
	}, []string{"reason"})
	e.rejected = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "rawprobe_exporter_requests_rejected_total",
		Help: "/probe requests refused before probing, by reason (concurrency: 503 beyond --max-concurrent; policy: 403, target not allowed).",
	}, []string{"reason"})
	for _, r := range []string{"rate_limited", "resolve", "cancelled", "engine"} {
		e.failed.WithLabelValues(r)
	}
	for _, r := range []string{"concurrency", "policy"} {
		e.rejected.WithLabelValues(r)
	}
	build := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "rawprobe_build_info",
		Help: "A metric with a constant '1' value labelled by version, revision and goversion from which rawprobe was built.",
		ConstLabels: prometheus.Labels{
			"version":   cfg.Build.Version,
			"revision":  cfg.Build.Revision,
			"goversion": cfg.Build.GoVersion,
		},
	})
	build.Set(1)
	e.probes = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "rawprobe_exporter_probes_total",
		Help: "Probes served on /probe, by module and resulting state (error: the probe could not be made).",
	}, []string{"module", "state"})
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		e.probes,
		e.failed,
		e.rejected,
		build,
		newStatsCollector(cfg.Modules),
	)
	e.mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	e.mux.HandleFunc("/probe", e.serveProbe)
	e.mux.HandleFunc("/", e.serveIndex)
	return e, nil
}

// ServeHTTP dispatches to /probe, /metrics and the index page.
func (e *Exporter) ServeHTTP(w http.ResponseWriter, r *http.Request) { e.mux.ServeHTTP(w, r) }

func moduleNames(m map[string]Prober) []string {
	var names []string
	for n := range m {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

func (e *Exporter) serveIndex(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/" {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	fmt.Fprintf(w, `<html><head><title>rawprobe exporter</title></head><body>
<h1>rawprobe exporter</h1>
<p><a href="/probe?target=127.0.0.1:22&amp;module=%s">/probe?target=127.0.0.1:22&amp;module=%[1]s</a> (modules: %s)</p>
<p><a href="/metrics">/metrics</a></p>
</body></html>
`, html.EscapeString(e.cfg.DefaultModule), html.EscapeString(strings.Join(moduleNames(e.cfg.Modules), ", ")))
}

// timeout returns the probe's time budget as blackbox_exporter computes it:
// the scrape timeout less the offset, capped by the module timeout; the
// module timeout when the header is absent or the offset leaves nothing.
func (e *Exporter) timeout(r *http.Request) (time.Duration, error) {
	v := r.Header.Get("X-Prometheus-Scrape-Timeout-Seconds")
	if v == "" {
		return e.cfg.Timeout, nil
	}
	secs, err := strconv.ParseFloat(v, 64)
	if err != nil || secs <= 0 || secs > 1e6 {
		return 0, fmt.Errorf("invalid X-Prometheus-Scrape-Timeout-Seconds %q: want a positive number of seconds", v)
	}
	d := time.Duration(secs*float64(time.Second)) - e.cfg.TimeoutOffset
	if d <= 0 || d > e.cfg.Timeout {
		return e.cfg.Timeout, nil
	}
	return d, nil
}
