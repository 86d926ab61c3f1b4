package compat

import (
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// TestDependencies: compat stays as light as tcp-shaker. Built for Linux,
// macOS and Windows, it depends on the standard library, golang.org/x/sys
// and the epoll engine only (the raw engine lives in compat/rawcompat).
// The go tool lists the dependencies. Negative control: the same check
// does flag compat/rawcompat's dependency on rawcheck.
func TestDependencies(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("the go tool is needed to list compat's dependencies: %v", err)
	}
	for _, goos := range []string{"linux", "darwin", "windows"} {
		deps := listDeps(t, goTool, goos, ".")
		if !slices.Contains(deps, "github.com/rawprobe/rawprobe/internal/epollcheck") {
			t.Errorf("GOOS=%s: go list -deps listed %q, without internal/epollcheck", goos, deps)
		}
		for _, d := range notAllowed(deps) {
			t.Errorf("GOOS=%s: compat depends on %s; want only the standard library, golang.org/x/sys, compat and internal/epollcheck", goos, d)
		}
		t.Logf("GOOS=%s: %s", goos, strings.Join(deps, " "))
	}
	if bad := notAllowed(listDeps(t, goTool, "linux", "./rawcompat")); !slices.Contains(bad, "github.com/rawprobe/rawprobe/rawcheck") {
		t.Errorf("negative control: compat/rawcompat's disallowed dependencies %q do not include rawcheck", bad)
	}
}

// listDeps returns the import paths of the packages outside the standard
// library that pkg depends on, itself included, when built for goos.
func listDeps(t *testing.T, goTool, goos, pkg string) []string {
	t.Helper()
	cmd := exec.Command(goTool, "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", pkg)
	cmd.Env = append(os.Environ(), "GOOS="+goos, "GOARCH=amd64")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("GOOS=%s go list -deps %s: %v", goos, pkg, err)
	}
	return strings.Fields(string(out))
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
