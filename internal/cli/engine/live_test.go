package engine

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/rawprobe/rawprobe/rawcheck"
)

// TestConnectLoopback runs the real connect engine against loopback: a
// listening port is open and its application never accepts a connection;
// a port with nothing listening is closed.
func TestConnectLoopback(t *testing.T) {
	e, _, err := Open(Connect, Config{Timeout: time.Second, Attempts: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if e.Name() != Connect {
		t.Errorf("Name = %q", e.Name())
	}
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	open := ln.Addr().(*net.TCPAddr).AddrPort()
	// A closed port: bind, learn the port, close.
	tmp, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := tmp.Addr().(*net.TCPAddr).AddrPort()
	tmp.Close()

	ctx := context.Background()
	if res, err := e.Probe(ctx, open); err != nil || res.State != rawcheck.Open || res.RTT <= 0 {
		t.Errorf("open port %v: %+v, %v", open, res, err)
	}
	if res, err := e.Probe(ctx, closed); err != nil || res.State != rawcheck.Closed {
		t.Errorf("closed port %v: %+v, %v", closed, res, err)
	}
	var got []rawcheck.Result
	err = e.Scan(ctx, func(yield func(netip.AddrPort) bool) { _ = yield(open) && yield(closed) }, func(r rawcheck.Result) { got = append(got, r) })
	if err != nil || len(got) != 2 {
		t.Errorf("Scan: %v, %v", got, err)
	}
	// The application must not see a connection: nothing to accept.
	ln.(*net.TCPListener).SetDeadline(time.Now().Add(300 * time.Millisecond))
	if c, err := ln.Accept(); err == nil {
		c.Close()
		t.Error("the probed listener accepted a connection")
	} else if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("Accept: %v", err)
	}
	// Positive control: a real connection is seen by Accept.
	c, err := net.Dial("tcp4", open.String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ln.(*net.TCPListener).SetDeadline(time.Now().Add(5 * time.Second))
	if a, err := ln.Accept(); err != nil {
		t.Errorf("control connection not accepted: %v", err)
	} else {
		a.Close()
	}
	if err := e.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
}
