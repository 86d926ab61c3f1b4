package output

import (
	"os"
	"testing"

	"github.com/rawprobe/rawprobe/internal/cli/services"
)

// TestMain makes service names come from the embedded IANA table only, so
// the golden files do not depend on this machine's /etc/services.
func TestMain(m *testing.M) {
	os.Setenv(services.EnvFile, "")
	os.Exit(m.Run())
}
