// Package godeps lists, for tests, the packages a package is built from,
// as `go list -deps` prints them, so a test can bound what a package
// depends on.
package godeps

import (
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// Deps returns the import paths of pkg and of every package it is built
// from, the standard library's included, in `go list -deps` order. env
// holds extra variables for the go tool, such as "GOOS=darwin". Deps
// skips t when the go tool is not on PATH and fails it when go list
// fails.
func Deps(t testing.TB, pkg string, env ...string) []string {
	t.Helper()
	return list(t, pkg, env, "-deps", pkg)
}

// NonStandard is Deps without the standard library's packages.
func NonStandard(t testing.TB, pkg string, env ...string) []string {
	t.Helper()
	return list(t, pkg, env, "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", pkg)
}

// list runs go list with args and env and returns the paths it printed.
func list(t testing.TB, pkg string, env []string, args ...string) []string {
	t.Helper()
	gotool, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("the go tool is not on PATH, so the dependencies of %s cannot be listed: %v", pkg, err)
	}
	cmd := exec.Command(gotool, append([]string{"list"}, args...)...)
	if len(env) > 0 {
		cmd.Env = append(os.Environ(), env...)
	}
	out, err := cmd.Output()
	if err != nil {
		var stderr []byte
		if ee := (*exec.ExitError)(nil); errors.As(err, &ee) {
			stderr = ee.Stderr
		}
		t.Fatalf("%s go list -deps %s: %v\n%s", strings.Join(env, " "), pkg, err, stderr)
	}
	return strings.Fields(string(out))
}
