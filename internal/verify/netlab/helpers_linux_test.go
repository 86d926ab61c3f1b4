package netlab

import (
	"os"
	"testing"
)

// envRequirePrivileges is testnet.EnvRequirePrivileges; netlab's own tests
// cannot import testnet, which imports netlab.
const envRequirePrivileges = "RAWPROBE_REQUIRE_PRIV"

// requirePrivileges skips t, or fails it when RAWPROBE_REQUIRE_PRIV is
// "1", unless MissingPrivileges is empty (testnet.RequirePrivileges).
func requirePrivileges(t testing.TB) {
	t.Helper()
	missing := MissingPrivileges()
	if missing == "" {
		return
	}
	if os.Getenv(envRequirePrivileges) == "1" {
		t.Fatalf("privileged test cannot run: %s (%s=1 forbids skipping)", missing, envRequirePrivileges)
	}
	t.Skipf("privileged test skipped: %s (set %s=1 to make this a failure)", missing, envRequirePrivileges)
}

// newTestNet builds a network with Setup and removes it in t.Cleanup.
func newTestNet(t testing.TB, opts ...Option) *Net {
	t.Helper()
	requirePrivileges(t)
	n, remove, err := Setup(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := remove(); err != nil {
			t.Error(err)
		}
	})
	return n
}

// listenTest starts a Listener in n's target namespace and closes it in
// t.Cleanup.
func listenTest(t testing.TB, n *Net, network, address string) *Listener {
	t.Helper()
	l, err := n.Listen(network, address)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}
