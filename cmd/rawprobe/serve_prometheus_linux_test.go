package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rawprobe/rawprobe/internal/verify/testnet"
)

// exporterProc is a "rawprobe serve" process in the prober namespace.
type exporterProc struct {
	addr   string // host:port inside the prober namespace
	stderr *lockedBuffer
}

// startExporter runs "rawprobe serve" (this test binary acting as the
// command) in n's prober namespace on 127.0.0.1:port, waits until it
// answers, and stops it in t.Cleanup.
func startExporter(t *testing.T, n *testnet.Net, port int, args ...string) *exporterProc {
	t.Helper()
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	argv := append([]string{"netns", "exec", n.ProberNS, os.Args[0], "serve", "--web.listen-address", addr}, args...)
	cmd := exec.Command("ip", argv...)
	cmd.Env = append(os.Environ(), envRunMain+"=1")
	e := &exporterProc{addr: addr, stderr: &lockedBuffer{}}
	cmd.Stdout, cmd.Stderr = e.stderr, e.stderr
	runExporter(t, cmd, addr, e.stderr, proberClient(n, 2*time.Second))
	return e
}

// runExporter starts cmd, a "rawprobe serve" listening on addr whose
// output goes to logs, and waits up to 15 s until c is answered on addr's
// /metrics; the process exiting first, or no answer by then, fails t. It
// stops the process in t.Cleanup (SIGINT, SIGKILL after 10 s) and then
// logs its output if t failed. The channel returned is closed once the
// process has exited.
func runExporter(t *testing.T, cmd *exec.Cmd, addr string, logs *lockedBuffer, c *http.Client) <-chan struct{} {
	t.Helper()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("exporter %s output:\n%s", addr, logs)
		}
	})
	for deadline := time.Now().Add(15 * time.Second); ; {
		resp, err := c.Get("http://" + addr + "/metrics")
		if err == nil {
			resp.Body.Close()
			return exited
		}
		select {
		case <-exited:
			t.Fatalf("exporter on %s exited: %s", addr, logs)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("exporter on %s does not answer: %v\n%s", addr, err, logs)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// proberClient is an HTTP client whose connections are made from n's
// prober namespace.
func proberClient(n *testnet.Net, timeout time.Duration) *http.Client {
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		var c net.Conn
		err := n.InProber(func() (err error) {
			c, err = (&net.Dialer{}).DialContext(ctx, network, addr)
			return err
		})
		return c, err
	}
	return &http.Client{Timeout: timeout, Transport: &http.Transport{DialContext: dial, MaxIdleConnsPerHost: 64}}
}

// promTruth are the test network's targets of every kind and what
// probe_success and probe_syn_state must say of them.
func promTruth(n *testnet.Net) map[string][2]float64 {
	ap := func(p netip.Prefix, i int, port uint16) string {
		a := p.Addr()
		for range i {
			a = a.Next()
		}
		return netip.AddrPortFrom(a, port).String()
	}
	return map[string][2]float64{
		ap(n.Answering4, 11, 80):   {1, 1},
		ap(n.Answering4, 11, 81):   {0, 2},
		ap(n.Silent4, 11, 80):      {0, 0},
		ap(n.Unreachable4, 11, 80): {0, 3},
		ap(n.Answering6, 11, 80):   {1, 1},
		ap(n.Answering6, 11, 81):   {0, 2},
		ap(n.Silent6, 11, 80):      {0, 0},
		ap(n.Unreachable6, 11, 80): {0, 3},
		ap(n.Answering4, 12, 80):   {1, 1},
		ap(n.Answering4, 13, 443):  {0, 2},
	}
}

// rewritePromConfig returns examples/prometheus/prometheus.yml with the
// targets replaced by targets and exporter N's address by exporters[N],
// the relabelling unchanged, scraping every interval.
func rewritePromConfig(t *testing.T, orig string, targets []string, exporters []string, interval string) string {
	t.Helper()
	block := regexp.MustCompile(`(static_configs: &targets\n +- targets:\n)((?: {10}- .*\n)+)`)
	m := block.FindStringSubmatchIndex(orig)
	if m == nil {
		t.Fatal("examples/prometheus/prometheus.yml: no static_configs: &targets block")
	}
	var b strings.Builder
	for _, tg := range targets {
		fmt.Fprintf(&b, "          - %q\n", tg)
	}
	cfg := orig[:m[4]] + b.String() + orig[m[5]:]
	for i, e := range exporters {
		name := fmt.Sprintf("rawprobe-exporter-%d.rawprobe-exporter:19116", i)
		if !strings.Contains(cfg, name) {
			t.Fatalf("examples/prometheus/prometheus.yml does not name exporter %s", name)
		}
		cfg = strings.ReplaceAll(cfg, name, e)
	}
	cfg = regexp.MustCompile(`scrape_interval: \S+`).ReplaceAllString(cfg, "scrape_interval: "+interval)
	cfg = regexp.MustCompile(`scrape_timeout: \S+`).ReplaceAllString(cfg, "scrape_timeout: "+interval)
	return cfg
}

// promQuery runs an instant query against the Prometheus API and returns
// each series' labels and value.
func promQuery(t *testing.T, c *http.Client, api, q string) ([]map[string]string, []float64) {
	t.Helper()
	resp, err := c.Get(api + "/api/v1/query?query=" + url.QueryEscape(q))
	if err != nil {
		return nil, nil
	}
	defer resp.Body.Close()
	var r struct {
		Status string
		Data   struct {
			Result []struct {
				Metric map[string]string
				Value  [2]any
			}
		}
	}
	body, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(body, &r); err != nil || r.Status != "success" {
		t.Logf("query %q: %v %s", q, err, body)
		return nil, nil
	}
	var labels []map[string]string
	var vals []float64
	for _, s := range r.Data.Result {
		v, _ := strconv.ParseFloat(fmt.Sprint(s.Value[1]), 64)
		labels = append(labels, s.Metric)
		vals = append(vals, v)
	}
	return labels, vals
}

// TestPrometheusThreeExporters: Debian's Prometheus scrapes three
// "rawprobe serve" processes in one network namespace (one host) through
// examples/prometheus/prometheus.yml's hashmod relabelling, only the
// addresses rewritten. Every exporter serves module syn (each raw engine
// got its own source-port chunk), every scrape is up, and probe_success
// and probe_syn_state are the truth for open, closed, silent and
// unreachable targets, IPv4 and IPv6.
func TestPrometheusThreeExporters(t *testing.T) {
	testnet.RequirePrivileges(t)
	prom, err := exec.LookPath("prometheus")
	if err == nil {
		_, err = exec.LookPath("promtool")
	}
	if err != nil {
		if os.Getenv(testnet.EnvRequirePrivileges) == "1" {
			t.Fatalf("prometheus and promtool are needed (make deps installs them): %v", err)
		}
		t.Skipf("prometheus and promtool are needed (make deps installs them): %v", err)
	}
	n := testnet.New(t)
	n.Listen(t, "tcp", ":80")
	truth := promTruth(n)

	var exporters []string
	for i := range 3 {
		e := startExporter(t, n, 19116+i, "--engine", "raw")
		exporters = append(exporters, e.addr)
		defer func() {
			if s := e.stderr.String(); strings.Contains(s, "not available") {
				t.Errorf("exporter %s: %s", e.addr, s)
			}
		}()
	}

	dir := t.TempDir()
	orig, err := os.ReadFile("../../examples/prometheus/prometheus.yml")
	if err != nil {
		t.Fatal(err)
	}
	var targets []string
	for tg := range truth {
		targets = append(targets, tg)
	}
	cfgPath := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfgPath, []byte(rewritePromConfig(t, string(orig), targets, exporters, "2s")), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"../../examples/prometheus/prometheus.yml", cfgPath} {
		if out, err := exec.Command("promtool", "check", "config", p).CombinedOutput(); err != nil {
			t.Fatalf("promtool check config %s: %v\n%s", p, err, out)
		}
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	promAddr := "127.0.0.1:19090"
	var promOut lockedBuffer
	cmd := n.ProberCmd(ctx, prom, "--config.file="+cfgPath, "--storage.tsdb.path="+filepath.Join(dir, "tsdb"),
		"--web.listen-address="+promAddr, "--log.level=warn")
	cmd.Stdout, cmd.Stderr = &promOut, &promOut
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		cmd.Wait()
		if t.Failed() {
			t.Logf("prometheus output:\n%s", promOut.String())
		}
	})

	c := proberClient(n, 5*time.Second)
	api := "http://" + promAddr
	// Every target is scraped by exactly one job; wait for a few scrapes.
	var last string
	deadline := time.Now().Add(40 * time.Second)
	for ; time.Now().Before(deadline); time.Sleep(time.Second) {
		ls, _ := promQuery(t, c, api, `probe_success`)
		if len(ls) != len(truth) {
			last = fmt.Sprintf("%d probe_success series, want %d", len(ls), len(truth))
			continue
		}
		samples, _ := promQuery(t, c, api, `count_over_time(up{job=~"rawprobe-[0-9]"}[1m])`)
		if len(samples) != len(truth) {
			last = "not every target scraped yet"
			continue
		}
		break
	}
	time.Sleep(5 * time.Second) // a few more scrapes
	ls, vs := promQuery(t, c, api, `up`)
	jobs := map[string]int{}
	for i, l := range ls {
		jobs[l["job"]]++
		if vs[i] != 1 {
			t.Errorf("up %v = %v, want 1", l, vs[i])
		}
	}
	if len(ls) != len(truth)+3 {
		t.Errorf("%d up series (%v), want %d targets and 3 exporters; %s", len(ls), jobs, len(truth)+3, last)
	}
	for _, metric := range []string{"probe_success", "probe_syn_state"} {
		ls, vs := promQuery(t, c, api, metric)
		seen := map[string]bool{}
		for i, l := range ls {
			tg := l["instance"]
			want, ok := truth[tg]
			if !ok {
				t.Errorf("%s for unknown instance %q", metric, tg)
				continue
			}
			seen[tg] = true
			w := want[0]
			if metric == "probe_syn_state" {
				w = want[1]
			}
			if vs[i] != w {
				t.Errorf("%s{instance=%q} = %v, want %v", metric, tg, vs[i], w)
			}
		}
		if len(seen) != len(truth) {
			t.Errorf("%s for %d targets, want %d", metric, len(seen), len(truth))
		}
	}
	// Every exporter probed with module syn, the raw engine.
	ls, vs = promQuery(t, c, api, `sum by (instance) (rawprobe_engine_syn_sent_total{module=~".*syn.*"})`)
	for i, l := range ls {
		t.Logf("exporter %s: %v SYNs sent by module syn", l["instance"], vs[i])
	}
	if len(ls) != 3 {
		t.Errorf("module syn counters from %d exporters, want 3", len(ls))
	}
}
