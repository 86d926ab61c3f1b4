package exporter_test

import (
	"bufio"
	"context"
	"fmt"
	"net/http/httptest"
	"net/netip"
	"strings"
	"time"

	"github.com/rawprobe/rawprobe/internal/cli/exporter"
	"github.com/rawprobe/rawprobe/rawcheck"
)

// alwaysOpen is a stand-in engine whose every target is open.
type alwaysOpen struct{}

func (alwaysOpen) Probe(_ context.Context, t netip.AddrPort) (rawcheck.Result, error) {
	return rawcheck.Result{Target: t, State: rawcheck.Open, RTT: 250 * time.Microsecond, Attempts: 1}, nil
}

func (alwaysOpen) Stats() rawcheck.Stats { return rawcheck.Stats{} }

func Example() {
	exp, _ := exporter.New(exporter.Config{
		Modules:       map[string]exporter.Prober{"syn": alwaysOpen{}},
		DefaultModule: "syn",
	})
	rec := httptest.NewRecorder()
	exp.ServeHTTP(rec, httptest.NewRequest("GET", "/probe?target=198.18.0.1:5432", nil))
	sc := bufio.NewScanner(rec.Body)
	for sc.Scan() {
		if line := sc.Text(); strings.HasPrefix(line, "probe_success") || strings.HasPrefix(line, "probe_syn_rtt") || strings.HasPrefix(line, "probe_ip_protocol") {
			fmt.Println(line)
		}
	}
	rec = httptest.NewRecorder()
	exp.ServeHTTP(rec, httptest.NewRequest("GET", "/probe?target=198.18.0.1:99999", nil))
	fmt.Print(rec.Code, " ", rec.Body.String())
	// Output:
	// probe_ip_protocol 4
	// probe_success 1
	// probe_syn_rtt_seconds 0.00025
	// 400 invalid target "198.18.0.1:99999": port 99999 is out of range 1-65535
}
