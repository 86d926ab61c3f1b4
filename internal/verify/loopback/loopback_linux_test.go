package loopback

import (
	"errors"
	"net"
	"syscall"
	"testing"
	"time"
)

// TestTargets: the open port accepts, the closed one refuses, the silent
// one lets a dial time out.
func TestTargets(t *testing.T) {
	for _, network := range []string{"tcp4", "tcp6"} {
		open := Listen(t, network).Addr().String()
		c, err := net.DialTimeout("tcp", open, time.Second)
		if err != nil {
			t.Fatalf("%s open %s: %v", network, open, err)
		}
		c.Close()
		if _, err := net.DialTimeout("tcp", ClosedPort(t, network), time.Second); !errors.Is(err, syscall.ECONNREFUSED) {
			t.Errorf("%s closed port: %v, want ECONNREFUSED", network, err)
		}
		silent := SilentListener(t, network)
		if _, err := net.DialTimeout("tcp", silent, 200*time.Millisecond); err == nil {
			t.Errorf("%s silent %s answered", network, silent)
		}
	}
	if n := FdCount(t); n < 3 {
		t.Errorf("FdCount = %d", n)
	}
}
