package exporter

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/rawprobe/rawprobe/internal/ratelimit"
	"github.com/rawprobe/rawprobe/rawcheck"
)

// fakeProber answers by the last octet / last byte of the address, one
// SYN per call as the exporter's probers send: 1 open, 2 closed, 3 timeout,
// 4 unreachable, 5 no route (nothing sent), 6 no send slot before the
// deadline (nothing sent), 7 no answer before the ctx deadline, anything
// else an error.
type fakeProber struct {
	mu        sync.Mutex
	deadlines []time.Time // the ctx deadline of each call
	calls     uint64
	noRoute   uint64
}

func (f *fakeProber) Probe(ctx context.Context, t netip.AddrPort) (rawcheck.Result, error) {
	f.mu.Lock()
	f.calls++
	if dl, ok := ctx.Deadline(); ok {
		f.deadlines = append(f.deadlines, dl)
	}
	f.mu.Unlock()
	b := t.Addr().AsSlice()
	res := rawcheck.Result{Target: t, Attempts: 1, TTL: 64}
	switch b[len(b)-1] {
	case 1:
		res.State, res.RTT = rawcheck.Open, 1500*time.Microsecond
	case 2:
		res.State, res.RTT = rawcheck.Closed, 500*time.Microsecond
	case 3:
		res.State, res.TTL = rawcheck.Timeout, 0
	case 4:
		res.State, res.RTT, res.ICMPType, res.ICMPCode = rawcheck.Unreachable, time.Millisecond, 3, 1
	case 5:
		res = rawcheck.Result{Target: t, State: rawcheck.NoRoute}
		f.mu.Lock()
		f.noRoute++
		f.mu.Unlock()
	case 6:
		return rawcheck.Result{}, fmt.Errorf("send: %w", ratelimit.ErrDeadline)
	case 7: // an engine slower than the scrape budget
		<-ctx.Done()
		return res, ctx.Err()
	default:
		return res, fmt.Errorf("engine failure")
	}
	return res, nil
}

func (f *fakeProber) Stats() rawcheck.Stats {
	f.mu.Lock()
	defer f.mu.Unlock()
	return rawcheck.Stats{Sent: f.calls, Received: 2 * f.calls, NoRoute: f.noRoute}
}

type fakeResolver map[string][]netip.Addr

func (r fakeResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	if a, ok := r[host]; ok {
		return a, nil
	}
	return nil, fmt.Errorf("no such host %s", host)
}

func newTestServer(t *testing.T, p Prober) *httptest.Server {
	t.Helper()
	e, err := New(Config{
		Modules:       map[string]Prober{"syn": p, "connect": p},
		DefaultModule: "syn",
		Resolver: fakeResolver{
			"web.example": {netip.MustParseAddr("2001:db8::9"), netip.MustParseAddr("198.18.0.1")},
			"v6.example":  {netip.MustParseAddr("2001:db8::2")},
		},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)
	return srv
}

// scrape GETs path and returns the status, body and parsed metrics.
func scrape(t *testing.T, srv *httptest.Server, path string, header map[string]string) (int, string, map[string]float64) {
	t.Helper()
	req, _ := http.NewRequest("GET", srv.URL+path, nil)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		return resp.StatusCode, string(body), nil
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(string(body)))
	if err != nil {
		t.Fatalf("%s: unparsable answer: %v\n%s", path, err, body)
	}
	vals := map[string]float64{}
	for name, f := range fams {
		for _, m := range f.Metric {
			key := name
			for _, l := range m.Label {
				key += fmt.Sprintf("{%s=%s}", l.GetName(), l.GetValue())
			}
			switch {
			case m.Gauge != nil:
				vals[key] = m.Gauge.GetValue()
			case m.Counter != nil:
				vals[key] = m.Counter.GetValue()
			}
		}
	}
	return resp.StatusCode, string(body), vals
}

func probePath(target, module string) string {
	v := url.Values{"target": {target}}
	if module != "" {
		v.Set("module", module)
	}
	return "/probe?" + v.Encode()
}

func TestProbe(t *testing.T) {
	srv := newTestServer(t, &fakeProber{})
	for _, tc := range []struct {
		target, module      string
		success, proto, rtt float64
		state               float64
	}{
		{"198.18.0.1:80", "", 1, 4, 0.0015, 1},
		{"198.18.0.2:80", "syn", 0, 4, 0.0005, 2},
		{"[2001:db8::3]:443", "connect", 0, 6, 0, 0},
		{"203.0.113.4:22", "", 0, 4, 0.001, 3},
		{"192.0.2.5:80", "", 0, 4, 0, 4},        // no route: not a success, its own state
		{"web.example:80", "", 1, 4, 0.0015, 1}, // IPv4 preferred
		{"v6.example:80", "", 0, 6, 0.0005, 2},
		{"198.18.0.9:80", "", 0, 4, 0, -1},      // engine error
		{"nowhere.example:80", "", 0, 0, 0, -1}, // resolution failure: 200, success 0
		{"198.18.0.7:80", "", 0, 4, 0, 0},       // budget ran out: timeout, not error
		{"198.18.0.6:80", "", 0, 4, 0, -1},      // no send slot: an error, not a timeout
	} {
		// 0.7s scrape timeout: a 0.2s budget, for the slow engine's case.
		code, body, m := scrape(t, srv, probePath(tc.target, tc.module), map[string]string{"X-Prometheus-Scrape-Timeout-Seconds": "0.7"})
		if code != 200 {
			t.Errorf("%s: HTTP %d %s", tc.target, code, body)
			continue
		}
		if m["probe_success"] != tc.success || m["probe_ip_protocol"] != tc.proto || m["probe_syn_rtt_seconds"] != tc.rtt || m["probe_syn_state"] != tc.state {
			t.Errorf("%s: metrics %v, want success %v proto %v rtt %v state %v", tc.target, m, tc.success, tc.proto, tc.rtt, tc.state)
		}
		if _, ok := m["probe_duration_seconds"]; !ok {
			t.Errorf("%s: no probe_duration_seconds", tc.target)
		}
	}
}

// TestNoRoute: a probe ending NoRoute answers probe_success 0,
// probe_syn_state 4 and probe_syn_attempts 0, and /metrics exports the
// engine's NoRoute counter as rawprobe_engine_results_noroute_total and
// the probes as state "noroute". Control: an unreachable probe (an ICMP
// error) has state 3, one attempt, and is not counted as noroute.
func TestNoRoute(t *testing.T) {
	f := &fakeProber{}
	srv := newTestServer(t, f)
	for _, tc := range []struct {
		target          string
		state, attempts float64
	}{
		{"192.0.2.5:80", 4, 0},
		{"[2001:db8::5]:443", 4, 0},
		{"203.0.113.4:22", 3, 1},
	} {
		code, body, m := scrape(t, srv, probePath(tc.target, "syn"), nil)
		if code != 200 || m["probe_success"] != 0 || m["probe_syn_state"] != tc.state || m["probe_syn_attempts"] != tc.attempts {
			t.Errorf("%s: HTTP %d, metrics %v; want success 0, state %v, attempts %v\n%s", tc.target, code, m, tc.state, tc.attempts, body)
		}
	}
	code, body, m := scrape(t, srv, "/metrics", nil)
	if code != 200 {
		t.Fatalf("/metrics: HTTP %d", code)
	}
	if got := m[`rawprobe_engine_results_noroute_total{module=connect,syn}`]; got != 2 {
		t.Errorf("rawprobe_engine_results_noroute_total = %v, want 2:\n%s", got, body)
	}
	if m[`rawprobe_exporter_probes_total{module=syn}{state=noroute}`] != 2 || m[`rawprobe_exporter_probes_total{module=syn}{state=unreachable}`] != 1 {
		t.Errorf("probe counters by state wrong:\n%s", body)
	}
}

func TestProbeBadRequests(t *testing.T) {
	f := &fakeProber{}
	srv := newTestServer(t, f)
	for _, tc := range []struct {
		path   string
		header map[string]string
		want   string
	}{
		{probePath("300.1.1.1:80", ""), nil, "300.1.1.1:80"},
		{probePath("host:99999", ""), nil, "out of range"},
		{probePath("198.18.0.0/24:80", ""), nil, "single address"},
		{probePath("198.18.0.1", ""), nil, "no port"},
		{"/probe", nil, "Target parameter is missing"},
		{probePath("198.18.0.1:80", "icmp"), nil, `Unknown module "icmp"`},
		{probePath("198.18.0.1:80", ""), map[string]string{"X-Prometheus-Scrape-Timeout-Seconds": "soon"}, "soon"},
	} {
		code, body, _ := scrape(t, srv, tc.path, tc.header)
		if code != http.StatusBadRequest || !strings.Contains(body, tc.want) {
			t.Errorf("%s: HTTP %d %q, want 400 naming %q", tc.path, code, body, tc.want)
		}
	}
	if f.calls != 0 {
		t.Errorf("bad requests reached the engine %d times", f.calls)
	}
}

// TestScrapeTimeout: a silent target gets its three attempts, evenly
// spaced, the last ending with the budget (the scrape timeout less the
// offset, capped by the module timeout), and ends as a timeout with
// attempts 3.
func TestScrapeTimeout(t *testing.T) {
	f := &fakeProber{}
	srv := newTestServer(t, f)
	for _, tc := range []struct {
		header   string
		min, max time.Duration
	}{
		{"", 4 * time.Second, 5 * time.Second},          // module timeout
		{"3", 2 * time.Second, 2500 * time.Millisecond}, // header less the 0.5s offset
		{"30", 4 * time.Second, 5 * time.Second},        // capped by the module timeout
		{"0.2", 4 * time.Second, 5 * time.Second},       // offset leaves nothing: module timeout
	} {
		h := map[string]string{}
		if tc.header != "" {
			h["X-Prometheus-Scrape-Timeout-Seconds"] = tc.header
		}
		f.mu.Lock()
		f.deadlines = nil
		f.mu.Unlock()
		start := time.Now()
		code, body, m := scrape(t, srv, probePath("198.18.0.3:80", ""), h)
		if code != 200 || m["probe_syn_state"] != 0 || m["probe_syn_attempts"] != 3 {
			t.Fatalf("HTTP %d, want a timeout after 3 attempts:\n%s", code, body)
		}
		f.mu.Lock()
		dls := f.deadlines
		f.mu.Unlock()
		if len(dls) != 3 {
			t.Fatalf("header %q: %d calls, want 3", tc.header, len(dls))
		}
		// start is a little before the exporter's own start.
		got := dls[2].Sub(start)
		if got < tc.min || got > tc.max+50*time.Millisecond {
			t.Errorf("header %q: last attempt ends %v after the request, want %v..%v", tc.header, got, tc.min, tc.max)
		}
		if first := dls[0].Sub(start); first < got/3-50*time.Millisecond || first > got/3+50*time.Millisecond {
			t.Errorf("header %q: first attempt ends after %v, want a third of %v", tc.header, first, got)
		}
	}
}

func TestConcurrentScrapesAndMetrics(t *testing.T) {
	f := &fakeProber{}
	srv := newTestServer(t, f)
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			last := byte(1 + i%2)
			code, body, m := scrape(t, srv, probePath(fmt.Sprintf("198.18.0.%d:80", last), ""), nil)
			if code != 200 || m["probe_success"] != float64(2-last) {
				t.Errorf("scrape %d: HTTP %d success %v\n%s", i, code, m["probe_success"], body)
			}
		}()
	}
	wg.Wait()
	code, body, m := scrape(t, srv, "/metrics", nil)
	if code != 200 {
		t.Fatalf("/metrics: HTTP %d", code)
	}
	if m[`rawprobe_engine_syn_sent_total{module=connect,syn}`] != 20 || m[`rawprobe_engine_replies_received_total{module=connect,syn}`] != 40 {
		t.Errorf("engine counters missing or wrong:\n%s", body)
	}
	if m[`rawprobe_exporter_probes_total{module=syn}{state=open}`] != 10 || m[`rawprobe_exporter_probes_total{module=syn}{state=closed}`] != 10 {
		t.Errorf("probe counters wrong:\n%s", body)
	}
	if code, body, _ := scrape(t, srv, "/", nil); code != 200 || !strings.Contains(body, "/probe?target=") {
		t.Errorf("index: %d %s", code, body)
	}
	if code, _, _ := scrape(t, srv, "/nothing", nil); code != 404 {
		t.Errorf("/nothing: HTTP %d", code)
	}
}

func TestNewRejectsUnknownDefault(t *testing.T) {
	if _, err := New(Config{Modules: map[string]Prober{"syn": &fakeProber{}}, DefaultModule: "tcp"}); err == nil || !strings.Contains(err.Error(), `"tcp"`) {
		t.Errorf("New: %v", err)
	}
}

func BenchmarkProbe(b *testing.B) {
	e, _ := New(Config{Modules: map[string]Prober{"syn": &fakeProber{}}, DefaultModule: "syn",
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	req := httptest.NewRequest("GET", "/probe?target=198.18.0.1:80", nil)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			e.ServeHTTP(httptest.NewRecorder(), req)
		}
	})
}
