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
	"github.com/rawprobe/rawprobe/rawcheck"
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

// serveDefaultTimeout is serve's --timeout default: the longest time one
// probe may take, retries included.
const serveDefaultTimeout = 5 * time.Second

// runServe is the exporter command: parse the flags, open the engines of
// its modules, serve until ctx is done.
func runServe(ctx context.Context, args []string, e env) int {
	p, err := parseServe(args, e)
	if err != nil {
		return exitStatus(e, err)
	}
	m, err := openModules(p, e)
	if err != nil {
		return exitStatus(e, err)
	}
	defer m.close()
	if err := serve(ctx, p, m, e); err != nil {
		return exitStatus(e, err)
	}
	return exitAllOpen
}

// servePlan is the exporter as its flags describe it, checked.
type servePlan struct {
	listen string
	engine string // engine.Raw, engine.Connect or engine.Auto
	// cfg's Timeout is one attempt's: timeout split across the attempts.
	cfg     engine.Config
	timeout time.Duration // the longest a probe may take
}

// parseServe parses args into a plan. Every error is bad input, or
// pflag.ErrHelp after the usage was printed.
func parseServe(args []string, e env) (*servePlan, error) {
	var f engineFlags
	p := &servePlan{}
	fs := pflag.NewFlagSet("rawprobe serve", pflag.ContinueOnError)
	fs.StringVar(&p.listen, "listen", ":9116", "address to serve HTTP on")
	f.register(fs, serveDefaultTimeout, "longest time one probe may take, retries included (the scrape timeout can shorten it)")
	if err := parseFlags(fs, args, serveUsage, e); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, badInput(fmt.Errorf("serve takes no arguments, got %q", fs.Arg(0)))
	}
	var err error
	if p.cfg, err = f.config(fs); err != nil {
		return nil, err
	}
	p.engine, p.timeout = f.engine, time.Duration(f.timeout)
	// A probe's time budget comes from the scrape; the engine's per-attempt
	// timeout is split across the attempts, so their number is fixed:
	// --retries, or by default rawcheck.DefaultAttempts.
	if p.cfg.Attempts == 0 {
		p.cfg.Attempts = rawcheck.DefaultAttempts
	}
	p.cfg.Timeout = max(p.timeout/time.Duration(p.cfg.Attempts), 10*time.Millisecond)
	return p, nil
}

// serveModules are the exporter's probers by module name, and their
// engines.
type serveModules struct {
	probers map[string]exporter.Prober
	def     string // the default module
	engines []engine.Engine
}

// openModules opens module syn (the raw engine) unless --engine connect,
// and module connect unless --engine raw. Without --engine, a raw engine
// that cannot open leaves module connect alone, said on stderr.
func openModules(p *servePlan, e env) (*serveModules, error) {
	m := &serveModules{probers: map[string]exporter.Prober{}, def: "connect"}
	if p.engine != engine.Connect {
		raw, _, err := e.openEngine(engine.Raw, p.cfg)
		switch {
		case err == nil:
			m.add("syn", raw)
			m.def = "syn"
		case p.engine == engine.Raw:
			return nil, fmt.Errorf("cannot start the raw engine: %w", err)
		default:
			fmt.Fprintf(e.stderr, "rawprobe: module syn is not available, serving module connect only: %v\n", err)
		}
	}
	if p.engine != engine.Raw {
		conn, _, err := e.openEngine(engine.Connect, p.cfg)
		if err != nil {
			m.close()
			return nil, fmt.Errorf("cannot start the connect engine: %w", err)
		}
		m.add("connect", conn)
	}
	return m, nil
}

func (m *serveModules) add(name string, eng engine.Engine) {
	m.probers[name] = eng
	m.engines = append(m.engines, eng)
}

func (m *serveModules) close() {
	for _, eng := range m.engines {
		eng.Close()
	}
}

// names returns the modules served, syn first.
func (m *serveModules) names() []string {
	var out []string
	for _, n := range []string{"syn", "connect"} {
		if _, ok := m.probers[n]; ok {
			out = append(out, n)
		}
	}
	return out
}

// serve serves the exporter until ctx is done, then shuts it down.
func serve(ctx context.Context, p *servePlan, m *serveModules, e env) error {
	exp, err := exporter.New(exporter.Config{
		Modules:       m.probers,
		DefaultModule: m.def,
		Timeout:       p.timeout,
		Resolver:      e.resolver,
		Logger:        slog.New(slog.NewTextHandler(e.stderr, nil)),
	})
	if err != nil {
		return err
	}
	ln, err := e.listen("tcp", p.listen)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: exp, ReadHeaderTimeout: 10 * time.Second}
	fmt.Fprintf(e.stderr, "rawprobe: serving on http://%s (modules %v, default %s)\n", ln.Addr(), m.names(), m.def)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil {
		return err
	}
	if err := <-done; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
