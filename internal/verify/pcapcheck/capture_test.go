package pcapcheck

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
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

func TestOpenBadInput(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name, ifname string
		opts         []Option
		want         string
	}{
		{"no interface", "", nil, "empty interface name"},
		{"missing interface", "rp-no-such0", nil, "rp-no-such0"},
		{"snaplen 0", "lo", []Option{WithSnaplen(0)}, "snaplen 0"},
		{"snaplen too big", "lo", []Option{WithSnaplen(maxSnaplen + 1)}, "snaplen 262145"},
	} {
		path := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "_")+".pcap")
		c, err := Open(tc.ifname, nil, path, tc.opts...)
		if err == nil {
			c.Stop()
			t.Errorf("%s: Open succeeded", tc.name)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want it to name %q", tc.name, err, tc.want)
		}
		if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s: Open failed but left %s (stat: %v)", tc.name, path, err)
		}
	}
}
