package netlab

import (
	"errors"
	"net/netip"
	"os"
	"testing"
	"time"
)

// Setup builds a network and its remove function deletes it, once.
func TestSetup(t *testing.T) {
	t.Parallel()
	requirePrivileges(t)
	n, remove, err := Setup()
	if err != nil {
		t.Fatal(err)
	}
	removed := false
	t.Cleanup(func() {
		if !removed {
			remove()
		}
	})
	l, err := n.Listen("tcp", ":80")
	if err != nil {
		t.Fatal(err)
	}
	if err := dialIn(n, netip.AddrPortFrom(n.Answering6.Addr().Next(), 80), 5*time.Second); err != nil {
		t.Errorf("dial: %v", err)
	}
	if got := l.WaitAccepted(1, 5*time.Second); got != 1 {
		t.Errorf("accepted %d, want 1", got)
	}
	if err := l.Close(); err != nil {
		t.Error(err)
	}
	if _, err := n.Listen("udp", ":80"); err == nil {
		t.Error("Listen accepted network udp")
	}
	removed = true
	if err := remove(); err != nil {
		t.Fatal(err)
	}
	if err := remove(); err != nil {
		t.Errorf("second remove: %v", err)
	}
	for _, ns := range []string{n.ProberNS, n.TargetNS} {
		if _, err := os.Stat("/run/netns/" + ns); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("namespace %s left after remove (stat: %v)", ns, err)
		}
	}
}
