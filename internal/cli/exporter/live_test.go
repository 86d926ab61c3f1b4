package exporter

import (
	"io"
	"log/slog"
	"net"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/rawprobe/rawprobe/internal/cli/engine"
)

// TestLiveConnectLoopback serves /probe over the real connect engine and
// probes loopback: a listening port gives probe_success 1, a port with
// nothing listening 0.
func TestLiveConnectLoopback(t *testing.T) {
	eng, _, err := engine.Open(engine.Connect, engine.Config{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	exp, err := New(Config{Modules: map[string]Prober{"connect": eng}, DefaultModule: "connect",
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(exp)
	defer srv.Close()

	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	tmp, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := tmp.Addr().String()
	tmp.Close()

	for _, tc := range []struct {
		target  string
		success float64
		state   float64
	}{{ln.Addr().String(), 1, 1}, {closed, 0, 2}} {
		code, body, m := scrape(t, srv, probePath(tc.target, ""), map[string]string{"X-Prometheus-Scrape-Timeout-Seconds": "3"})
		if code != 200 || m["probe_success"] != tc.success || m["probe_syn_state"] != tc.state || m["probe_ip_protocol"] != 4 {
			t.Errorf("%s: HTTP %d, metrics %v\n%s", tc.target, code, m, body)
		}
		if tc.success == 1 && m["probe_syn_rtt_seconds"] <= 0 {
			t.Errorf("%s: no RTT", tc.target)
		}
	}
	_, body, m := scrape(t, srv, "/metrics", nil)
	if m[`rawprobe_engine_results_open_total{module=connect}`] != 1 || m[`rawprobe_engine_results_closed_total{module=connect}`] != 1 {
		t.Errorf("engine counters:\n%s", body)
	}
}
