package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/spf13/pflag"

	"github.com/rawprobe/rawprobe/internal/cli/engine"
	"github.com/rawprobe/rawprobe/internal/cli/exporter"
)

const serveUsage = `Usage: rawprobe serve [flags]

Serves a Prometheus exporter compatible with blackbox_exporter's probe
endpoint: GET /probe?target=host:port&module=syn|connect answers with
probe_success, probe_duration_seconds, probe_ip_protocol and
probe_syn_rtt_seconds; /metrics serves the engines' counters. Module syn
uses the raw engine (needs CAP_NET_RAW), connect the connect engine. The
probe timeout is the scrape timeout Prometheus sends, less 0.5s, at most
--timeout.

Flags:
`

func runServe(ctx context.Context, args []string, e env) int {
	var f engineFlags
	var listen string
	fs := pflag.NewFlagSet("rawprobe serve", pflag.ContinueOnError)
	fs.StringVar(&listen, "listen", ":9116", "address to serve HTTP on")
	f.register(fs, 5*time.Second, "longest time one probe may take, retries included (the scrape timeout can shorten it)")
	if code, done := parseFlags(fs, args, serveUsage, e); done {
		return code
	}
	if fs.NArg() > 0 {
		return badInput(e, fmt.Errorf("serve takes no arguments, got %q", fs.Arg(0)))
	}
	cfg, err := f.config()
	if err != nil {
		return badInput(e, err)
	}
	// A probe's time budget comes from the scrape; the engine's per-attempt
	// timeout is split across the attempts.
	cfg.Timeout = max(f.timeout/time.Duration(f.retries+1), 10*time.Millisecond)

	modules := map[string]exporter.Prober{}
	def := "connect"
	if f.engine != engine.Connect {
		raw, _, err := e.openEngine(engine.Raw, cfg)
		switch {
		case err == nil:
			defer raw.Close()
			modules["syn"], def = raw, "syn"
		case f.engine == engine.Raw:
			return runtimeError(e, fmt.Errorf("cannot start the raw engine: %v", err))
		default:
			fmt.Fprintf(e.stderr, "rawprobe: module syn is not available, serving module connect only: %v\n", err)
		}
	}
	if f.engine != engine.Raw {
		conn, _, err := e.openEngine(engine.Connect, cfg)
		if err != nil {
			return runtimeError(e, fmt.Errorf("cannot start the connect engine: %v", err))
		}
		defer conn.Close()
		modules["connect"] = conn
	}
	exp, err := exporter.New(exporter.Config{
		Modules:       modules,
		DefaultModule: def,
		Timeout:       f.timeout,
		Resolver:      e.resolver,
		Logger:        slog.New(slog.NewTextHandler(e.stderr, nil)),
	})
	if err != nil {
		return runtimeError(e, err)
	}
	ln, err := e.listen("tcp", listen)
	if err != nil {
		return runtimeError(e, err)
	}
	srv := &http.Server{Handler: exp, ReadHeaderTimeout: 10 * time.Second}
	fmt.Fprintf(e.stderr, "rawprobe: serving on http://%s (modules %v, default %s)\n", ln.Addr(), exporterModules(modules), def)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	select {
	case err := <-done:
		return runtimeError(e, err)
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil {
		return runtimeError(e, err)
	}
	if err := <-done; !errors.Is(err, http.ErrServerClosed) {
		return runtimeError(e, err)
	}
	return 0
}

func exporterModules(m map[string]exporter.Prober) []string {
	var out []string
	for _, n := range []string{"syn", "connect"} {
		if _, ok := m[n]; ok {
			out = append(out, n)
		}
	}
	return out
}
