package engine

import (
	"context"
	"iter"
	"net/netip"

	"github.com/rawprobe/rawprobe/rawcheck"
)

// rawEngine is rawcheck's Prober.
type rawEngine struct{ p *rawcheck.Prober }

func openRaw(cfg Config) (Engine, error) {
	p, err := rawcheck.New(cfg.probeConfig())
	if err != nil {
		return nil, err
	}
	return rawEngine{p}, nil
}

func (e rawEngine) Name() string { return Raw }

func (e rawEngine) Probe(ctx context.Context, t netip.AddrPort) (rawcheck.Result, error) {
	return e.p.Probe(ctx, t)
}

func (e rawEngine) Scan(ctx context.Context, ts iter.Seq[netip.AddrPort], yield func(rawcheck.Result)) error {
	return e.p.Scan(ctx, ts, yield)
}

// Sweep makes the raw engine a Sweeper.
func (e rawEngine) Sweep(ctx context.Context, ts iter.Seq[netip.AddrPort], yield func(rawcheck.Result)) error {
	return e.p.Sweep(ctx, ts, yield)
}

func (e rawEngine) Stats() rawcheck.Stats { return e.p.Stats() }

func (e rawEngine) Close() error { return e.p.Close() }
