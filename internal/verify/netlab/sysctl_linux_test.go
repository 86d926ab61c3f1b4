package netlab

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func readSysctl(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("/proc/sys", path))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// The target's sysctls take their values there and nowhere else: the
// host namespace keeps its own.
func TestSysctlsOnlyInTarget(t *testing.T) {
	t.Parallel()
	requirePrivileges(t)
	all := append(append([]sysctl{}, targetSysctls...), noDADSysctls...)
	host := map[string]string{}
	for _, s := range all {
		host[s.path] = readSysctl(t, s.path)
	}
	n := newTestNet(t)
	err := n.InTarget(func() error {
		for _, s := range all {
			if got := readSysctl(t, s.path); got != s.value {
				t.Errorf("target %s = %s, want %s", s.path, got, s.value)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range all {
		if got := readSysctl(t, s.path); got != host[s.path] {
			t.Errorf("host %s changed from %s to %s", s.path, host[s.path], got)
		}
	}
}
