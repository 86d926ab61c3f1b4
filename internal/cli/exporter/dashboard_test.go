package exporter

import (
	"encoding/json"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// dashboardPath is the Grafana dashboard shipped in examples/.
const dashboardPath = "../../../examples/grafana/rawprobe-exporter.json"

// metricRef matches the metric names a dashboard query may use: the
// exporter's own families and the process collector's.
var metricRef = regexp.MustCompile(`\b(?:probe|rawprobe|process|go)_[a-zA-Z0-9_]+\b`)

// dashboardExprs returns every query expression of the dashboard's panels.
func dashboardExprs(t *testing.T, raw []byte) []string {
	t.Helper()
	var d struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatalf("%s: %v", dashboardPath, err)
	}
	var exprs []string
	for _, p := range d.Panels {
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			exprs = append(exprs, tg.Expr)
		}
	}
	return exprs
}

// unknownMetrics returns the metric names exprs use that served lacks,
// and the expressions that use none.
func unknownMetrics(exprs []string, served map[string]bool) (unknown, none []string) {
	for _, e := range exprs {
		refs := metricRef.FindAllString(e, -1)
		if len(refs) == 0 {
			none = append(none, e)
		}
		for _, r := range refs {
			if !served[r] && !slices.Contains(unknown, r) {
				unknown = append(unknown, r)
			}
		}
	}
	return unknown, none
}

// servedMetrics returns the names of every family /metrics and /probe
// serve, after a probe of each kind.
func servedMetrics(t *testing.T) map[string]bool {
	t.Helper()
	srv := newTestServer(t, &fakeProber{})
	served := map[string]bool{}
	for _, path := range []string{probePath("198.18.0.1:80", ""), probePath("198.18.0.6:80", ""), "/metrics"} {
		resp, err := srv.Client().Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		parser := expfmt.NewTextParser(model.UTF8Validation)
		fams, err := parser.TextToMetricFamilies(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		for name := range fams {
			served[name] = true
		}
	}
	return served
}

// TestDashboardMetrics: every query of examples/grafana's dashboard uses
// only metrics the exporter serves. Negative control: the same check
// flags a name the exporter does not serve.
func TestDashboardMetrics(t *testing.T) {
	raw, err := os.ReadFile(dashboardPath)
	if err != nil {
		t.Fatal(err)
	}
	served := servedMetrics(t)
	exprs := dashboardExprs(t, raw)
	if len(exprs) < 5 {
		t.Fatalf("%d queries in the dashboard, want its panels' queries", len(exprs))
	}
	unknown, none := unknownMetrics(exprs, served)
	if len(unknown) > 0 {
		t.Errorf("the dashboard uses metrics the exporter does not serve: %v", unknown)
	}
	if len(none) > 0 {
		t.Errorf("queries that use no exporter metric: %q", none)
	}
	for _, want := range []string{"probe_success", "rawprobe_exporter_probes_failed_total", "rawprobe_build_info"} {
		if !strings.Contains(string(raw), want) {
			t.Errorf("the dashboard does not show %s", want)
		}
	}

	bad, _ := unknownMetrics([]string{`rate(rawprobe_engine_syn_lost_total[5m]) + probe_success`}, served)
	if !slices.Equal(bad, []string{"rawprobe_engine_syn_lost_total"}) {
		t.Errorf("negative control: unknown = %v, want [rawprobe_engine_syn_lost_total]", bad)
	}
}
