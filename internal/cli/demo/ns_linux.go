package demo

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"time"

	"github.com/rawprobe/rawprobe/internal/cli/engine"
	"github.com/rawprobe/rawprobe/internal/privdrop"
	"github.com/rawprobe/rawprobe/internal/verify/netlab"
	"github.com/rawprobe/rawprobe/internal/verify/pcapcheck"
	"github.com/rawprobe/rawprobe/rawcheck"
)

// runNamespaces builds the private two-namespace network of package
// netlab, listens on one port in the target namespace, and probes four
// targets from the prober namespace with the raw engine while capturing
// on the prober's veth. It returns a nil observation and a note when the
// network cannot be built (no root, no ip or nft), so Run falls back to
// loopback.
func runNamespaces(ctx context.Context, drop DropFunc) (*observation, string, error) {
	n, remove, err := netlab.Setup()
	if err != nil {
		return nil, fmt.Sprintf("no private network namespaces (%v)", err), nil
	}
	defer remove()

	host := n.Answering4.Addr().Next()
	open := netip.AddrPortFrom(host, 80)
	l, err := n.Listen("tcp", open.String())
	if err != nil {
		return nil, "", fmt.Errorf("listening on %v in %s: %v", open, n.TargetNS, err)
	}
	defer l.Close()
	targets := []Target{
		{"open", open, rawcheck.Open},
		{"closed", netip.AddrPortFrom(host, 81), rawcheck.Closed},
		{"silent", netip.AddrPortFrom(n.Silent4.Addr().Next(), 80), rawcheck.Timeout},
		{"unreachable", netip.AddrPortFrom(n.Unreachable4.Addr().Next(), 80), rawcheck.Unreachable},
	}

	dir, err := os.MkdirTemp("", "rawprobe-demo-")
	if err != nil {
		return nil, "", err
	}
	defer os.RemoveAll(dir)
	capture, err := pcapcheck.Open(n.ProberLink, n.InProber, filepath.Join(dir, "demo.pcap"))
	if err != nil {
		return nil, "", err
	}
	defer capture.Stop() // on the early returns; a no-op after Report
	var eng engine.Engine
	err = n.InProber(func() error {
		var err error
		eng, _, err = engine.Open(engine.Raw, engine.Config{Timeout: 500 * time.Millisecond, Attempts: 2})
		return err
	})
	if err != nil {
		return nil, "", err
	}
	defer eng.Close()
	// The engine holds every socket that needs CAP_NET_RAW: from here on
	// the process has no effective capability. Removing the namespaces at
	// the end runs ip as root, which needs CAP_NET_ADMIN and CAP_SYS_ADMIN
	// (setns, unmounting the namespace files): those two stay permitted,
	// and the bounding set keeps them for ip, nothing else.
	if drop != nil {
		if err := drop(privdrop.NetAdmin, privdrop.SysAdmin); err != nil {
			return nil, "", err
		}
	}

	results := map[netip.AddrPort]rawcheck.Result{}
	scanErr := eng.Scan(ctx, func(yield func(netip.AddrPort) bool) {
		for _, t := range targets {
			if !yield(t.Addr) {
				return
			}
		}
	}, func(r rawcheck.Result) { results[r.Target] = r })
	// Let the last RSTs and any (wrongly) completed handshake arrive: the
	// kernel's delayed ACK would leave about 200ms after the SYN-ACK.
	time.Sleep(300 * time.Millisecond)
	eng.Close()

	report, err := capture.Report()
	if err != nil {
		return nil, "", fmt.Errorf("capture: %v", err)
	}
	flows := map[netip.AddrPort]*pcapcheck.Flow{}
	for i := range report.Flows {
		f := &report.Flows[i]
		if flows[f.Target] == nil {
			flows[f.Target] = f
		}
	}

	obs := &observation{
		Mode: fmt.Sprintf("rawprobe demo: raw engine in private network namespaces %s (prober) and %s (target); packets captured on %s",
			n.ProberNS, n.TargetNS, n.ProberLink),
		Captured: true,
		Report:   report,
		Accepted: l.Accepted(),
	}
	for _, t := range targets {
		oc := outcome{Target: t, Flow: flows[t.Addr]}
		if r, ok := results[t.Addr]; ok {
			oc.Result = r
		} else {
			oc.Err = fmt.Errorf("no result (scan: %v)", scanErr)
		}
		obs.Outcomes = append(obs.Outcomes, oc)
	}
	return obs, "", nil
}
