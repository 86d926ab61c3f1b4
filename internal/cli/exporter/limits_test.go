package exporter

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rawprobe/rawprobe/internal/cli/buildinfo"
	"github.com/rawprobe/rawprobe/rawcheck"
)

// blockingProber holds every Probe until release is closed, then answers
// open.
type blockingProber struct {
	entered chan struct{}
	release chan struct{}
}

func (b *blockingProber) Probe(ctx context.Context, t netip.AddrPort) (rawcheck.Result, error) {
	b.entered <- struct{}{}
	select {
	case <-b.release:
		return rawcheck.Result{Target: t, State: rawcheck.Open, Attempts: 1}, nil
	case <-ctx.Done():
		return rawcheck.Result{}, ctx.Err()
	}
}

func (b *blockingProber) Stats() rawcheck.Stats { return rawcheck.Stats{} }

func newServer(t *testing.T, cfg Config) *httptest.Server {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	cfg.DefaultModule = "syn"
	e, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)
	return srv
}

// TestMaxConcurrent: beyond MaxConcurrent probes in progress a request is
// answered 503 at once and counted; the probes in progress are unharmed,
// and once they end new requests are served again.
func TestMaxConcurrent(t *testing.T) {
	b := &blockingProber{entered: make(chan struct{}, 2), release: make(chan struct{})}
	srv := newServer(t, Config{Modules: map[string]Prober{"syn": b}, MaxConcurrent: 2})
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			if code, body, m := scrape(t, srv, probePath("198.18.0.1:80", ""), nil); code != 200 || m["probe_success"] != 1 {
				t.Errorf("a probe within the bound: HTTP %d\n%s", code, body)
			}
		})
	}
	<-b.entered
	<-b.entered
	code, body, _ := scrape(t, srv, probePath("198.18.0.1:80", ""), nil)
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "max-concurrent") {
		t.Errorf("a third probe: HTTP %d %q, want 503 naming --max-concurrent", code, body)
	}
	close(b.release)
	wg.Wait()
	b.entered = make(chan struct{}, 1)
	if code, body, _ := scrape(t, srv, probePath("198.18.0.1:80", ""), nil); code != 200 {
		t.Errorf("after the others ended: HTTP %d %q", code, body)
	}
	_, body, m := scrape(t, srv, "/metrics", nil)
	if m["rawprobe_exporter_requests_rejected_total{reason=concurrency}"] != 1 || m["rawprobe_exporter_requests_rejected_total{reason=policy}"] != 0 {
		t.Errorf("rejection counters:\n%s", body)
	}
}

// TestPolicy: a denied target is answered 403, counted, and never reaches
// the prober, also when a host name resolves to it; with an allow list
// only its prefixes pass. Negative control: an empty Policy allows the
// metadata address.
func TestPolicy(t *testing.T) {
	f := &fakeProber{}
	srv := newServer(t, Config{
		Modules: map[string]Prober{"syn": f},
		Policy:  Policy{Allow: []netip.Prefix{netip.MustParsePrefix("198.18.0.0/15"), netip.MustParsePrefix("169.254.0.0/16")}, Deny: DefaultDeny},
		Resolver: fakeResolver{
			"metadata.example": {netip.MustParseAddr("169.254.169.254")},
		},
	})
	for _, target := range []string{"169.254.169.254:80", "[fe80::1]:80", "metadata.example:80", "203.0.113.4:80", "[::ffff:169.254.169.254]:80"} {
		code, body, _ := scrape(t, srv, probePath(target, ""), nil)
		if code != http.StatusForbidden || !strings.Contains(body, "not allowed") {
			t.Errorf("%s: HTTP %d %q, want 403", target, code, body)
		}
	}
	if f.calls != 0 {
		t.Errorf("denied targets reached the prober %d times", f.calls)
	}
	if code, body, m := scrape(t, srv, probePath("198.18.0.1:80", ""), nil); code != 200 || m["probe_success"] != 1 {
		t.Errorf("an allowed target: HTTP %d\n%s", code, body)
	}
	_, body, m := scrape(t, srv, "/metrics", nil)
	if m["rawprobe_exporter_requests_rejected_total{reason=policy}"] != 5 {
		t.Errorf("policy counter:\n%s", body)
	}
	if !(Policy{}).Allows(netip.MustParseAddr("169.254.169.254")) {
		t.Error("the empty Policy refuses 169.254.169.254")
	}
}

func TestParsePrefixes(t *testing.T) {
	got, err := ParsePrefixes([]string{"198.18.0.7/16", "2001:db8::1", " "})
	if err != nil || len(got) != 2 || got[0].String() != "198.18.0.0/16" || got[1].String() != "2001:db8::1/128" {
		t.Errorf("ParsePrefixes = %v, %v", got, err)
	}
	if _, err := ParsePrefixes([]string{"10.0.0.0/8", "nonsense/3"}); err == nil || !strings.Contains(err.Error(), `"nonsense/3"`) {
		t.Errorf("bad prefix: %v, want an error naming it", err)
	}
}

// TestNoSendSlot: a probe whose first SYN found no send slot before its
// deadline is an error with reason rate_limited and attempts 0, not a
// timeout; the timeout counter does not count it.
func TestNoSendSlot(t *testing.T) {
	f := &fakeProber{}
	srv := newServer(t, Config{Modules: map[string]Prober{"syn": f}})
	code, body, m := scrape(t, srv, probePath("198.18.0.6:80", ""), nil)
	if code != 200 || m["probe_success"] != 0 || m["probe_syn_state"] != -1 || m["probe_syn_attempts"] != 0 {
		t.Errorf("HTTP %d, want state -1 with 0 attempts\n%s", code, body)
	}
	scrape(t, srv, probePath("198.18.0.3:80", ""), map[string]string{"X-Prometheus-Scrape-Timeout-Seconds": "0.8"})
	_, body, m = scrape(t, srv, "/metrics", nil)
	if m["rawprobe_exporter_probes_failed_total{reason=rate_limited}"] != 1 ||
		m["rawprobe_exporter_probes_total{module=syn}{state=error}"] != 1 ||
		m["rawprobe_exporter_probes_total{module=syn}{state=timeout}"] != 1 {
		t.Errorf("counters: want one rate_limited error and one timeout\n%s", body)
	}
}

// TestCancelledRequest: a request its client abandons ends the probe at
// once, counted as cancelled, not as a timeout.
func TestCancelledRequest(t *testing.T) {
	b := &blockingProber{entered: make(chan struct{}, 1), release: make(chan struct{})}
	srv := newServer(t, Config{Modules: map[string]Prober{"syn": b}})
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+probePath("198.18.0.1:80", ""), nil)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if resp, err := srv.Client().Do(req); err == nil {
			resp.Body.Close()
		}
	}()
	<-b.entered
	cancel()
	<-done
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, body, m := scrape(t, srv, "/metrics", nil)
		if m["rawprobe_exporter_probes_failed_total{reason=cancelled}"] == 1 && m["rawprobe_exporter_probes_total{module=syn}{state=timeout}"] == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the abandoned probe was not counted as cancelled:\n%s", body)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestDebugAndBuildInfo: debug=true answers the probe's log lines and its
// metrics as text; /metrics serves rawprobe_build_info.
func TestDebugAndBuildInfo(t *testing.T) {
	f := &fakeProber{}
	srv := newServer(t, Config{Modules: map[string]Prober{"syn": f},
		Build: buildinfo.Info{Version: "v9.8.7", Revision: "abc", GoVersion: "go1.26"}})
	resp, err := srv.Client().Get(srv.URL + probePath("198.18.0.1:80", "") + "&debug=true")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{"Logs for the probe:", "probe done", "state=open", "Metrics that would have been returned:", "probe_success 1"} {
		if !strings.Contains(string(body), want) {
			t.Errorf("debug output lacks %q:\n%s", want, body)
		}
	}
	_, body2, m := scrape(t, srv, "/metrics", nil)
	if m["rawprobe_build_info{goversion=go1.26}{revision=abc}{version=v9.8.7}"] != 1 {
		t.Errorf("no rawprobe_build_info:\n%s", body2)
	}
}
