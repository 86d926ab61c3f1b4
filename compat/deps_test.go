package compat

import (
	"slices"
	"strings"
	"testing"

	"github.com/rawprobe/rawprobe/internal/verify/godeps"
)

// TestDependencies: compat stays as light as tcp-shaker. Built for Linux,
// macOS and Windows, it depends on the standard library, golang.org/x/sys
// and the epoll engine only (the raw engine lives in compat/rawcompat).
// godeps lists the dependencies (`go list -deps`). Negative control: the
// same check does flag compat/rawcompat's dependency on rawcheck.
func TestDependencies(t *testing.T) {
	for _, goos := range []string{"linux", "darwin", "windows"} {
		deps := godeps.NonStandard(t, ".", "GOOS="+goos, "GOARCH=amd64")
		if !slices.Contains(deps, "github.com/rawprobe/rawprobe/internal/epollcheck") {
			t.Errorf("GOOS=%s: go list -deps listed %q, without internal/epollcheck", goos, deps)
		}
		for _, d := range notAllowed(deps) {
			t.Errorf("GOOS=%s: compat depends on %s; want only the standard library, golang.org/x/sys, compat and internal/epollcheck", goos, d)
		}
		t.Logf("GOOS=%s: %s", goos, strings.Join(deps, " "))
	}
	if bad := notAllowed(godeps.NonStandard(t, "./rawcompat", "GOOS=linux", "GOARCH=amd64")); !slices.Contains(bad, "github.com/rawprobe/rawprobe/rawcheck") {
		t.Errorf("negative control: compat/rawcompat's disallowed dependencies %q do not include rawcheck", bad)
	}
}

// notAllowed returns the paths of deps compat may not depend on.
func notAllowed(deps []string) []string {
	var bad []string
	for _, d := range deps {
		switch {
		case strings.HasPrefix(d, "golang.org/x/sys/"),
			d == "github.com/rawprobe/rawprobe/compat",
			d == "github.com/rawprobe/rawprobe/internal/epollcheck":
		default:
			bad = append(bad, d)
		}
	}
	return bad
}
