package testnet

import (
	"os"
	"testing"

	"github.com/rawprobe/rawprobe/internal/verify/netlab"
)

// RequirePrivileges skips t, saying what is missing, unless the process
// can create network namespaces and raw sockets (Linux, with CAP_NET_ADMIN,
// CAP_NET_RAW and CAP_SYS_ADMIN, e.g. as root) and has the ip and nft
// commands: what netlab.MissingPrivileges checks. When the
// environment variable RAWPROBE_REQUIRE_PRIV is "1" it fails t instead of
// skipping, so that CI cannot pass without running the privileged tests.
func RequirePrivileges(t testing.TB) {
	t.Helper()
	missing := netlab.MissingPrivileges()
	if missing == "" {
		return
	}
	if os.Getenv(EnvRequirePrivileges) == "1" {
		t.Fatalf("privileged test cannot run: %s (%s=1 forbids skipping)", missing, EnvRequirePrivileges)
	}
	t.Skipf("privileged test skipped: %s (set %s=1 to make this a failure)", missing, EnvRequirePrivileges)
}
