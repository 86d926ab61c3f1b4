package pcapcheck

import (
	"fmt"
	"strings"
	"testing"
)

// fatalT records a Fatal call and stops the code under test with a panic
// the caller recovers.
type fatalT struct {
	testing.TB
	msg string
}

func (f *fatalT) Helper()                           {}
func (f *fatalT) Fatal(args ...any)                 { f.msg = fmt.Sprint(args...); panic(f) }
func (f *fatalT) Fatalf(format string, args ...any) { f.Fatal(fmt.Sprintf(format, args...)) }

// startFails runs Start and returns the message it failed with.
func startFails(t *testing.T, ifname string) (msg string) {
	ft := &fatalT{TB: t}
	defer func() {
		if r := recover(); r != nil && r != ft {
			panic(r)
		}
		msg = ft.msg
	}()
	Start(ft, ifname, nil)
	return ""
}

func TestStartBadInterface(t *testing.T) {
	if msg := startFails(t, ""); !strings.Contains(msg, "empty interface name") {
		t.Errorf("Start with no interface: %q", msg)
	}
	if msg := startFails(t, "rp-no-such0"); !strings.Contains(msg, "rp-no-such0") {
		t.Errorf("Start on a missing interface: %q, want it named", msg)
	}
}
