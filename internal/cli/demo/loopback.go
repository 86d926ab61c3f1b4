package demo

import (
	"context"
	"net"
	"sync/atomic"
	"time"

	"github.com/rawprobe/rawprobe/internal/cli/engine"
	"github.com/rawprobe/rawprobe/rawcheck"
)

// acceptCounter accepts and closes connections on ln, counting them.
type acceptCounter struct {
	ln *net.TCPListener
	n  atomic.Int64
}

func countAccepts(ln *net.TCPListener) *acceptCounter {
	a := &acceptCounter{ln: ln}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			a.n.Add(1)
			c.Close()
		}
	}()
	return a
}

// runLoopback probes an open and a closed loopback port with the connect
// engine, which needs no privilege.
func runLoopback(ctx context.Context) (*observation, error) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	defer ln.Close()
	acc := countAccepts(ln.(*net.TCPListener))
	tmp, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	closed := tmp.Addr().(*net.TCPAddr).AddrPort()
	tmp.Close()

	eng, _, err := engine.Open(engine.Connect, engine.Config{Timeout: 500 * time.Millisecond, Attempts: 2})
	if err != nil {
		return nil, err
	}
	defer eng.Close()
	obs := &observation{
		Mode:        "rawprobe demo: connect engine on loopback (127.0.0.1)",
		CaptureNote: "capturing packets needs root; run as root for the namespace demo with its packet sequences",
	}
	for _, t := range []Target{
		{"open", ln.Addr().(*net.TCPAddr).AddrPort(), rawcheck.Open},
		{"closed", closed, rawcheck.Closed},
	} {
		res, err := eng.Probe(ctx, t.Addr)
		obs.Outcomes = append(obs.Outcomes, outcome{Target: t, Result: res, Err: err})
	}
	// Give a completed handshake time to reach the application before
	// counting (the kernel's delayed ACK leaves after about 200ms).
	time.Sleep(300 * time.Millisecond)
	obs.Accepted = acc.n.Load()
	return obs, nil
}
