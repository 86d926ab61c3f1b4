package godeps

import (
	"slices"
	"testing"
)

// Deps lists godeps itself and package testing, which it imports;
// NonStandard lists godeps without testing (the negative control: the
// standard library is there to be left out), also for another GOOS.
func TestDeps(t *testing.T) {
	const self = "github.com/rawprobe/rawprobe/internal/verify/godeps"
	all := Deps(t, self)
	if !slices.Contains(all, self) || !slices.Contains(all, "testing") {
		t.Errorf("Deps(%s) = %v, want it to hold itself and testing", self, all)
	}
	for _, goos := range []string{"linux", "windows"} {
		if got := NonStandard(t, self, "GOOS="+goos, "GOARCH=amd64"); !slices.Equal(got, []string{self}) {
			t.Errorf("GOOS=%s: NonStandard(%s) = %v, want itself alone", goos, self, got)
		}
	}
}
