package compat

import (
	"testing"
	"time"
)

func TestSmoke(t *testing.T) {
	c := startedChecker(t)
	l := listenOpen(t, "tcp4")
	if err := c.CheckAddr(l.Addr().String(), time.Second); err != nil {
		t.Fatalf("open: %v", err)
	}
	cl := closedPort(t, "tcp4")
	t.Log(c.CheckAddr(cl, time.Second))
	s := silentListener(t, "tcp4")
	start := time.Now()
	t.Log(c.CheckAddr(s, 300*time.Millisecond), time.Since(start))
}
