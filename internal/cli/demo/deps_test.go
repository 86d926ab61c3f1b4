package demo

import (
	"os/exec"
	"strings"
	"testing"
)

// goListDeps returns the import paths of pkg and of every package it
// depends on (`go list -deps`), as the build of pkg links them.
func goListDeps(t *testing.T, pkg string) []string {
	t.Helper()
	gotool, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("the go tool is not on PATH, so the dependencies of %s cannot be listed: %v", pkg, err)
	}
	out, err := exec.Command(gotool, "list", "-deps", pkg).Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("go list -deps %s: %v\n%s", pkg, err, stderr)
	}
	return strings.Fields(string(out))
}

// testCode returns the packages of deps that are test code: package
// testing (and its sub-packages), internal/verify/testnet (the testing
// layer of the test network) and any _test package.
func testCode(deps []string) []string {
	var bad []string
	for _, p := range deps {
		if p == "testing" || strings.HasPrefix(p, "testing/") ||
			strings.HasSuffix(p, "/internal/verify/testnet") ||
			strings.HasSuffix(p, "_test") {
			bad = append(bad, p)
		}
	}
	return bad
}

// The rawprobe command links no test code: the demo builds its network
// with netlab and captures with pcapcheck, neither of which imports
// testing.
func TestCommandLinksNoTestCode(t *testing.T) {
	const cmd = "github.com/rawprobe/rawprobe/cmd/rawprobe"
	deps := goListDeps(t, cmd)
	if len(deps) < 10 {
		t.Fatalf("go list -deps %s listed only %v", cmd, deps)
	}
	if bad := testCode(deps); len(bad) > 0 {
		t.Errorf("%s links test code: %v", cmd, bad)
	}
	// Negative control: the checker finds testing in testnet's
	// dependencies.
	const testnet = "github.com/rawprobe/rawprobe/internal/verify/testnet"
	if bad := testCode(goListDeps(t, testnet)); len(bad) < 2 {
		t.Errorf("the checker found only %v in %s, want testing and testnet itself", bad, testnet)
	}
}
