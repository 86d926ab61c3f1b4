package demo

import (
	"strings"
	"testing"

	"github.com/rawprobe/rawprobe/internal/verify/godeps"
)

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
	deps := godeps.Deps(t, cmd)
	if len(deps) < 10 {
		t.Fatalf("go list -deps %s listed only %v", cmd, deps)
	}
	if bad := testCode(deps); len(bad) > 0 {
		t.Errorf("%s links test code: %v", cmd, bad)
	}
	// Negative control: the checker finds testing in testnet's
	// dependencies.
	const testnet = "github.com/rawprobe/rawprobe/internal/verify/testnet"
	if bad := testCode(godeps.Deps(t, testnet)); len(bad) < 2 {
		t.Errorf("the checker found only %v in %s, want testing and testnet itself", bad, testnet)
	}
}
