package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/rawprobe/rawprobe/internal/verify/netlab"
	"github.com/rawprobe/rawprobe/internal/verify/pcapcheck"
	"github.com/rawprobe/rawprobe/internal/verify/testnet"
)

// probeResult is one /probe answer, parsed.
type probeResult struct {
	code    int
	body    string
	metrics map[string]float64
	elapsed time.Duration
}

// getProbe asks e's /probe about target with the given scrape timeout
// header ("" for none).
func getProbe(ctx context.Context, c *http.Client, e *exporterProc, target, module, scrapeTimeout string) (probeResult, error) {
	v := url.Values{"target": {target}}
	if module != "" {
		v.Set("module", module)
	}
	req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+e.addr+"/probe?"+v.Encode(), nil)
	if scrapeTimeout != "" {
		req.Header.Set("X-Prometheus-Scrape-Timeout-Seconds", scrapeTimeout)
	}
	start := time.Now()
	resp, err := c.Do(req)
	if err != nil {
		return probeResult{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	r := probeResult{code: resp.StatusCode, body: string(body), elapsed: time.Since(start)}
	if err != nil || resp.StatusCode != 200 {
		return r, err
	}
	r.metrics, err = parseMetrics(string(body))
	return r, err
}

// parseMetrics returns the value of each sample of a text exposition,
// keyed by name and labels as name{l=v}{l2=v2}.
func parseMetrics(text string) (map[string]float64, error) {
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(strings.NewReader(text))
	if err != nil {
		return nil, err
	}
	out := map[string]float64{}
	for name, f := range fams {
		for _, m := range f.Metric {
			key := name
			for _, l := range m.Label {
				key += fmt.Sprintf("{%s=%s}", l.GetName(), l.GetValue())
			}
			switch {
			case m.Gauge != nil:
				out[key] = m.Gauge.GetValue()
			case m.Counter != nil:
				out[key] = m.Counter.GetValue()
			}
		}
	}
	return out, nil
}

func exporterMetrics(t *testing.T, c *http.Client, e *exporterProc) map[string]float64 {
	t.Helper()
	resp, err := c.Get("http://" + e.addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	m, err := parseMetrics(string(body))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestServeAbandonedRequests: at --rate 10, 10,000 /probe requests the
// client abandons after 10 ms leave no debt: an open target then answers
// probe_success 1 within a 1 s probe budget.
func TestServeAbandonedRequests(t *testing.T) {
	n := testnet.New(t)
	n.Listen(t, "tcp", ":80")
	e := startExporter(t, n, 19116, "--engine", "raw", "--rate", "10", "--max-concurrent", "20000")
	c := proberClient(n, 10*time.Second)
	open := netip.AddrPortFrom(netlab.Nth(n.Answering4, 21), 80).String()

	const total, workers = 10000, 200
	var next, failed atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for next.Add(1) <= total {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
				if _, err := getProbe(ctx, c, e, open, "syn", ""); err == nil {
					failed.Add(1) // answered within 10 ms: not abandoned
				}
				cancel()
			}
		})
	}
	wg.Wait()
	t.Logf("%d requests abandoned after 10ms (%d answered first)", total-failed.Load(), failed.Load())

	r, err := getProbe(context.Background(), c, e, open, "syn", "1.5") // a 1s budget
	if err != nil || r.code != 200 || r.metrics["probe_success"] != 1 || r.metrics["probe_syn_attempts"] != 1 {
		t.Fatalf("after the abandoned requests: %v HTTP %d\n%s", err, r.code, r.body)
	}
	t.Logf("then an open target answered probe_success 1 in %v", r.elapsed)
	m := exporterMetrics(t, c, e)
	t.Logf("cancelled %v, rate_limited %v, timeout %v", m["rawprobe_exporter_probes_failed_total{reason=cancelled}"],
		m["rawprobe_exporter_probes_failed_total{reason=rate_limited}"], m["rawprobe_exporter_probes_total{module=syn}{state=timeout}"])
	if got := m["rawprobe_exporter_probes_total{module=syn}{state=timeout}"]; got != 0 {
		t.Errorf("%v abandoned probes counted as timeouts, want 0", got)
	}
}

// TestServeBudget: a silent target scraped with a 3 s and a 5 s scrape
// timeout ends before the deadline as a timeout after the configured 3
// attempts, and the exporter's timeout counter counts both.
func TestServeBudget(t *testing.T) {
	n := testnet.New(t)
	e := startExporter(t, n, 19116, "--engine", "raw", "--retries", "2")
	c := proberClient(n, 10*time.Second)
	silent := netip.AddrPortFrom(netlab.Nth(n.Silent4, 21), 80).String()
	var wg sync.WaitGroup
	for _, st := range []float64{3, 5} {
		wg.Go(func() {
			r, err := getProbe(context.Background(), c, e, silent, "syn", strconv.FormatFloat(st, 'f', -1, 64))
			if err != nil || r.code != 200 {
				t.Errorf("scrape timeout %vs: %v HTTP %d %s", st, err, r.code, r.body)
				return
			}
			deadline := time.Duration(st * float64(time.Second))
			if r.metrics["probe_syn_state"] != 0 || r.metrics["probe_syn_attempts"] != 3 || r.elapsed >= deadline {
				t.Errorf("scrape timeout %vs: state %v attempts %v after %v; want timeout (0) after 3 attempts, before %v",
					st, r.metrics["probe_syn_state"], r.metrics["probe_syn_attempts"], r.elapsed, deadline)
			}
			t.Logf("scrape timeout %vs: timeout after %v attempts in %v", st, r.metrics["probe_syn_attempts"], r.elapsed)
		})
	}
	wg.Wait()
	m := exporterMetrics(t, c, e)
	if got := m["rawprobe_exporter_probes_total{module=syn}{state=timeout}"]; got != 2 {
		t.Errorf("timeout counter %v, want 2", got)
	}
	if got := m["rawprobe_engine_syn_sent_total{module=syn}"]; got != 6 {
		t.Errorf("%v SYNs sent, want 6 (3 per probe)", got)
	}
}

// TestServePolicy: the cloud metadata address and a --deny prefix are
// answered 403 and no packet goes to them (a capture on the prober's
// link); the control, an allowed target, is probed and its SYN captured.
func TestServePolicy(t *testing.T) {
	n := testnet.New(t)
	n.Listen(t, "tcp", ":80")
	denied := netlab.Nth(n.Answering4, 31)
	allowed := netip.AddrPortFrom(netlab.Nth(n.Answering4, 32), 80)
	e := startExporter(t, n, 19116, "--engine", "raw", "--deny", "169.254.0.0/16,fe80::/10,"+denied.String()+"/32")
	c := proberClient(n, 10*time.Second)
	capture := pcapcheck.Start(t, n.ProberLink, n.InProber)
	for _, target := range []string{"169.254.169.254:80", netip.AddrPortFrom(denied, 80).String(), "[fe80::1]:80"} {
		r, err := getProbe(context.Background(), c, e, target, "syn", "")
		if err != nil || r.code != http.StatusForbidden {
			t.Errorf("%s: %v HTTP %d %q, want 403", target, err, r.code, r.body)
		}
	}
	r, err := getProbe(context.Background(), c, e, allowed.String(), "syn", "")
	if err != nil || r.code != 200 || r.metrics["probe_success"] != 1 {
		t.Errorf("allowed %s: %v HTTP %d %s", allowed, err, r.code, r.body)
	}
	time.Sleep(200 * time.Millisecond)
	rep := capture.Analyze()
	var to []netip.Addr
	for _, f := range rep.Flows {
		to = append(to, f.Target.Addr())
	}
	for _, a := range []netip.Addr{netip.MustParseAddr("169.254.169.254"), denied} {
		if slices.Contains(to, a) {
			t.Errorf("a SYN went to denied %v (flows to %v)", a, to)
		}
	}
	if !slices.Contains(to, allowed.Addr()) {
		t.Errorf("control: no SYN to the allowed %v captured (flows to %v; %v)", allowed, to, rep)
	}
	if m := exporterMetrics(t, c, e); m["rawprobe_exporter_requests_rejected_total{reason=policy}"] != 3 {
		t.Errorf("policy counter %v, want 3", m["rawprobe_exporter_requests_rejected_total{reason=policy}"])
	}
}

// TestLoadServe (run by make test without the race detector, like the
// other TestLoad tests): 2,000 concurrent /probe requests over 1,000 targets
// (open, closed, silent) with --max-concurrent 300, below the ~667 silent
// probes that each hold a slot for their 1.5 s budget: every 200 answer is
// right, the rest are 503s (counted) and nothing else, and the exporter
// answers right afterwards. It reports p99 latency and the exporter's peak
// RSS.
func TestLoadServe(t *testing.T) {
	if testing.Short() {
		t.Skip("load test")
	}
	n := testnet.New(t)
	n.Listen(t, "tcp", ":80")
	e := startExporter(t, n, 19116, "--engine", "raw", "--max-concurrent", "300", "--rate", "0")
	c := proberClient(n, 30*time.Second)
	type tc struct {
		target string
		state  float64
	}
	var cases []tc
	for i := range 1000 {
		switch i % 3 {
		case 0:
			cases = append(cases, tc{netip.AddrPortFrom(netlab.Nth(n.Answering4, 100+i), 80).String(), 1})
		case 1:
			cases = append(cases, tc{netip.AddrPortFrom(netlab.Nth(n.Answering6, 100+i), 81).String(), 2})
		default:
			cases = append(cases, tc{netip.AddrPortFrom(netlab.Nth(n.Silent4, i%200+1), uint16(1000+i)).String(), 0})
		}
	}
	const requests = 2000
	var (
		mu        sync.Mutex
		latencies []time.Duration
		codes     = map[int]int{}
		wg        sync.WaitGroup
		start     = make(chan struct{})
	)
	for i := range requests {
		k := cases[i%len(cases)]
		wg.Go(func() {
			<-start
			r, err := getProbe(context.Background(), c, e, k.target, "syn", "2")
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				t.Errorf("%s: %v", k.target, err)
				return
			}
			codes[r.code]++
			switch r.code {
			case 200:
				latencies = append(latencies, r.elapsed)
				if r.metrics["probe_syn_state"] != k.state || r.metrics["probe_success"] != map[bool]float64{true: 1}[k.state == 1] {
					t.Errorf("%s: state %v success %v, want state %v", k.target, r.metrics["probe_syn_state"], r.metrics["probe_success"], k.state)
				}
			case http.StatusServiceUnavailable:
			default:
				t.Errorf("%s: HTTP %d %q", k.target, r.code, r.body)
			}
		})
	}
	close(start)
	wg.Wait()
	slices.Sort(latencies)
	p99 := time.Duration(0)
	if len(latencies) > 0 {
		p99 = latencies[len(latencies)*99/100]
	}
	m := exporterMetrics(t, c, e)
	t.Logf("HTTP codes %v; p99 latency of the 200s %v (silent targets take the 1.5s budget); 503s counted %v; peak RSS %s",
		codes, p99, m["rawprobe_exporter_requests_rejected_total{reason=concurrency}"], peakRSS(e))
	if codes[200] == 0 || codes[http.StatusServiceUnavailable] == 0 {
		t.Errorf("HTTP codes %v: want 200s and, beyond --max-concurrent, 503s", codes)
	}
	if float64(codes[http.StatusServiceUnavailable]) != m["rawprobe_exporter_requests_rejected_total{reason=concurrency}"] {
		t.Errorf("%d 503s answered, %v counted", codes[http.StatusServiceUnavailable], m["rawprobe_exporter_requests_rejected_total{reason=concurrency}"])
	}
	// After the burst, the exporter still answers right.
	r, err := getProbe(context.Background(), c, e, cases[0].target, "syn", "2")
	if err != nil || r.code != 200 || r.metrics["probe_success"] != 1 {
		t.Errorf("after the load: %v HTTP %d %s", err, r.code, r.body)
	}
}

// peakRSS returns the exporter's VmHWM from /proc, found by its listening
// address in its command line.
func peakRSS(e *exporterProc) string {
	ents, _ := os.ReadDir("/proc")
	for _, d := range ents {
		cmdline, err := os.ReadFile("/proc/" + d.Name() + "/cmdline")
		if err != nil || !strings.Contains(string(cmdline), "serve\x00--web.listen-address\x00"+e.addr) || strings.HasPrefix(string(cmdline), "ip\x00") {
			continue
		}
		status, err := os.ReadFile("/proc/" + d.Name() + "/status")
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(status), "\n") {
			if strings.HasPrefix(line, "VmHWM:") {
				return strings.TrimSpace(strings.TrimPrefix(line, "VmHWM:"))
			}
		}
	}
	return "unknown"
}
