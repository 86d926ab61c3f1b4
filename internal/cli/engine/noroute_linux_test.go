package engine

import (
	"context"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/rawprobe/rawprobe/internal/verify/testnet"
	"github.com/rawprobe/rawprobe/rawcheck"
)

// TestNoRouteEnginesAgree runs both real engines in the prober namespace
// of a test network, where only the test prefixes are routed: a Scan of an
// open, an unroutable (TEST-NET-1 192.0.2.1) and a closed target gives
// three results with either engine, the unroutable one the same Result
// (State NoRoute, no attempt, RTT or ICMP type) counted in Stats.NoRoute,
// not as sent and not as unreachable, and Probe of it gives that Result
// with no error. The open and closed targets are the control: they are probed.
func TestNoRouteEnginesAgree(t *testing.T) {
	if n, ok := testnet.Child(); ok {
		open := netip.AddrPortFrom(n.Answering4.Addr().Next(), 80)
		closed := netip.AddrPortFrom(n.Answering4.Addr().Next().Next(), 81)
		noRoute := netip.MustParseAddrPort("192.0.2.1:80")
		want := map[netip.AddrPort]rawcheck.State{open: rawcheck.Open, noRoute: rawcheck.NoRoute, closed: rawcheck.Closed}
		for _, name := range []string{Raw, Connect} {
			e, _, err := Open(name, Config{Timeout: 2 * time.Second, Attempts: 1, SourcePorts: [2]uint16{61000, 61063}})
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			defer e.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			got := map[netip.AddrPort]rawcheck.Result{}
			if err := e.Scan(ctx, slices.Values([]netip.AddrPort{open, noRoute, closed}), func(r rawcheck.Result) { got[r.Target] = r }); err != nil {
				t.Fatalf("%s Scan: %v; want every target probed", name, err)
			}
			for tg, st := range want {
				r, ok := got[tg]
				if !ok || r.State != st || (tg == noRoute) != (r.Attempts == 0) {
					t.Errorf("%s Scan: %v: %+v (reported %v); want %v, no attempt only for the unroutable one", name, tg, r, ok, st)
				}
			}
			if r := got[noRoute]; r != (rawcheck.Result{Target: noRoute, State: rawcheck.NoRoute}) {
				t.Errorf("%s Scan: %+v; want the no-route result", name, r)
			}
			if r, err := e.Probe(ctx, noRoute); err != nil || r != (rawcheck.Result{Target: noRoute, State: rawcheck.NoRoute}) {
				t.Errorf("%s Probe(%v) = %+v, %v; want the no-route result, no error", name, noRoute, r, err)
			}
			if st := e.Stats(); len(got) != 3 || st.NoRoute != 2 || st.Sent != 2 || st.Unreachable != 0 {
				t.Errorf("%s: %d results, Stats %+v; want 3, 2 no-route (Scan and Probe), 2 sent, none unreachable", name, len(got), st)
			}
		}
		return
	}
	n := testnet.New(t)
	n.Listen(t, "tcp", ":80")
	n.RunInProber(t)
}
