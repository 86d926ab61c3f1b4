package pcapcheck

import (
	"slices"
	"strings"
	"testing"

	"github.com/rawprobe/rawprobe/internal/verify/godeps"
)

// rawprobePackages returns the rawprobe packages pkg is built from (`go
// list -deps`), pkg included.
func rawprobePackages(t *testing.T, pkg string) []string {
	t.Helper()
	var own []string
	for _, p := range godeps.Deps(t, pkg) {
		if strings.HasPrefix(p, "github.com/rawprobe/rawprobe/") {
			own = append(own, p)
		}
	}
	return own
}

// The decoder is independent of the packet code it checks: pcapverify is
// built from no other rawprobe package, in particular not from synack, and
// pcapcheck from pcapverify alone.
func TestIndependentOfSynack(t *testing.T) {
	const self = "github.com/rawprobe/rawprobe/internal/verify/pcapcheck"
	const analyser = "github.com/rawprobe/rawprobe/pcapverify"
	if got := rawprobePackages(t, analyser); !slices.Equal(got, []string{analyser}) {
		t.Errorf("pcapverify is built from %v, want itself alone", got)
	}
	if got := rawprobePackages(t, self); !slices.Equal(got, []string{analyser, self}) {
		t.Errorf("pcapcheck is built from %v, want pcapverify and itself", got)
	}
	// Negative control: golden, which replays captures through synack,
	// is seen to depend on it.
	const synack = "github.com/rawprobe/rawprobe/synack"
	if got := rawprobePackages(t, "github.com/rawprobe/rawprobe/internal/verify/golden"); !slices.Contains(got, synack) {
		t.Errorf("golden's dependencies %v lack %s", got, synack)
	}
}
