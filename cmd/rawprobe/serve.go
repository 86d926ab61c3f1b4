package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/exporter-toolkit/web"
	"github.com/spf13/pflag"

	"github.com/rawprobe/rawprobe/internal/cli/buildinfo"
	"github.com/rawprobe/rawprobe/internal/cli/engine"
	"github.com/rawprobe/rawprobe/internal/cli/exporter"
	"github.com/rawprobe/rawprobe/rawcheck"
)

const serveUsage = `Usage: rawprobe serve [flags]

Serves a Prometheus exporter compatible with blackbox_exporter's probe
endpoint: GET /probe?target=host:port&module=syn|connect[&debug=true]
answers with probe_success, probe_duration_seconds, probe_ip_protocol,
probe_syn_rtt_seconds, probe_syn_attempts and probe_syn_state; /metrics
serves the engines' and the exporter's counters and rawprobe_build_info.
Module syn uses the raw engine (needs CAP_NET_RAW), connect the connect
engine. A probe's budget is the scrape timeout Prometheus sends, less
0.5s, at most --timeout; its attempts (--retries + 1) share it evenly.
Targets outside --allow or inside --deny are refused (403), requests
beyond --max-concurrent too (503). --web.config.file adds TLS and basic
authentication (prometheus/exporter-toolkit's format).

Flags:
`

// serveDefaultTimeout is serve's --timeout default: the longest time one
// probe may take, retries included.
const serveDefaultTimeout = 5 * time.Second

// serveDefaultAddress is serve's --web.listen-address default. Prometheus's
// default port allocations (its wiki) fill 9100-9999 entirely (9116 is
// snmp_exporter's) and continue from 10000; 19116 lies outside both.
const serveDefaultAddress = ":19116"

// serveDefaultMaxConcurrent is serve's --max-concurrent default.
const serveDefaultMaxConcurrent = 1000

// runServe is the exporter command: parse the flags, open the engines of
// its modules, serve until ctx is done.
func runServe(ctx context.Context, args []string, e env) int {
	p, err := parseServe(args, e)
	if err != nil {
		return exitStatus(e, err)
	}
	if p.version {
		fmt.Fprintln(e.stdout, buildinfo.Read())
		return exitAllOpen
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
	listen    string
	webConfig string // exporter-toolkit web config file; "" for plain HTTP
	engine    string // engine.Raw, engine.Connect or engine.Auto
	// cfg opens the engines: one SYN per Probe, the exporter times the
	// attempts within each scrape's budget.
	cfg           engine.Config
	attempts      int           // SYNs per probe at most
	timeout       time.Duration // the longest a probe may take
	maxConcurrent int
	policy        exporter.Policy
	logLevel      slog.Level
	version       bool
}

// parseServe parses args into a plan. Every error is bad input, or
// pflag.ErrHelp after the usage was printed.
func parseServe(args []string, e env) (*servePlan, error) {
	var f engineFlags
	p := &servePlan{}
	fs := pflag.NewFlagSet("rawprobe serve", pflag.ContinueOnError)
	fs.StringVar(&p.listen, "web.listen-address", serveDefaultAddress, "address to serve HTTP on")
	fs.StringVar(&p.listen, "listen", serveDefaultAddress, "the same as --web.listen-address")
	fs.StringVar(&p.webConfig, "web.config.file", "", "exporter-toolkit web configuration file: TLS and basic authentication")
	fs.IntVar(&p.maxConcurrent, "max-concurrent", serveDefaultMaxConcurrent, "/probe requests served at once; more are answered 503 (0 = no bound)")
	allow := fs.StringSlice("allow", nil, "prefixes targets must be in (default: any)")
	var deny []string
	for _, d := range exporter.DefaultDeny {
		deny = append(deny, d.String())
	}
	denied := fs.StringSlice("deny", deny, "prefixes targets must not be in (link-local, the cloud metadata addresses, by default; \"\" for none)")
	level := fs.String("log.level", "info", "log level: debug (one line per probe), info, warn or error")
	fs.BoolVar(&p.version, "version", false, "print the version and exit")
	f.register(fs, serveDefaultTimeout, "longest time one probe may take, retries included (the scrape timeout can shorten it)")
	// The exporter splits each scrape's budget over a fixed number of
	// attempts (--retries), so the scan's adaptive ceiling has no meaning
	// here: hidden from the help, and refused when given.
	fs.MarkHidden("max-retries")
	if err := parseFlags(fs, args, serveUsage, e); err != nil {
		return nil, err
	}
	if fs.Changed("max-retries") {
		return nil, badInput(fmt.Errorf("--max-retries: serve makes a fixed number of attempts per probe (--retries, %d by default), split over each scrape's budget; adaptive attempts are for scans", rawcheck.DefaultAttempts-1))
	}
	if p.version {
		return p, nil
	}
	if fs.NArg() > 0 {
		return nil, badInput(fmt.Errorf("serve takes no arguments, got %q", fs.Arg(0)))
	}
	var err error
	if p.cfg, err = f.config(fs); err != nil {
		return nil, err
	}
	if p.maxConcurrent < 0 {
		return nil, badInput(fmt.Errorf("--max-concurrent %d: want 0 or more", p.maxConcurrent))
	}
	if p.policy.Allow, err = exporter.ParsePrefixes(*allow); err != nil {
		return nil, badInput(fmt.Errorf("--allow: %w", err))
	}
	if p.policy.Deny, err = exporter.ParsePrefixes(*denied); err != nil {
		return nil, badInput(fmt.Errorf("--deny: %w", err))
	}
	if err := p.logLevel.UnmarshalText([]byte(*level)); err != nil {
		return nil, badInput(fmt.Errorf("--log.level %q: want debug, info, warn or error", *level))
	}
	if p.webConfig != "" {
		if err := web.Validate(p.webConfig); err != nil {
			return nil, badInput(fmt.Errorf("--web.config.file %s: %w", p.webConfig, err))
		}
	}
	p.engine, p.timeout = f.engine, time.Duration(f.timeout)
	// The exporter sends the attempts, one Probe each, within each
	// scrape's budget; an engine attempt may last the whole budget. Their
	// number is fixed, as the budget is split across them: --retries, or
	// by default rawcheck.DefaultAttempts (not the scan's adaptive count).
	p.attempts = p.cfg.Attempts
	if p.attempts == 0 {
		p.attempts = rawcheck.DefaultAttempts
	}
	p.cfg.Attempts, p.cfg.Timeout = 1, p.timeout
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
	logger := slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: p.logLevel}))
	exp, err := exporter.New(exporter.Config{
		Modules:       m.probers,
		DefaultModule: m.def,
		Timeout:       p.timeout,
		Attempts:      p.attempts,
		MaxConcurrent: p.maxConcurrent,
		Policy:        p.policy,
		Build:         buildinfo.Read(),
		Resolver:      e.resolver,
		Logger:        logger,
	})
	if err != nil {
		return err
	}
	ln, err := e.listen("tcp", p.listen)
	if err != nil {
		return err
	}
	// The engines and the listener are open: nothing else needs a
	// capability.
	if err := dropPrivileges(e); err != nil {
		ln.Close()
		return err
	}
	srv := &http.Server{
		Handler:           exp,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       15 * time.Second,
		// A probe lasts at most --timeout; the answer is written after it.
		WriteTimeout:   p.timeout + 15*time.Second,
		IdleTimeout:    2 * time.Minute,
		MaxHeaderBytes: 16 << 10,
		ErrorLog:       slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	scheme := "http"
	if p.webConfig != "" {
		scheme = "web config " + p.webConfig + ", " + scheme
	}
	fmt.Fprintf(e.stderr, "rawprobe: serving on %s://%s (modules %v, default %s)\n", scheme, ln.Addr(), m.names(), m.def)
	addrs := []string{p.listen}
	systemd := false
	flags := &web.FlagConfig{WebListenAddresses: &addrs, WebSystemdSocket: &systemd, WebConfigFile: &p.webConfig}
	quiet := slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	done := make(chan error, 1)
	go func() { done <- web.Serve(ln, srv, flags, quiet) }()
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
