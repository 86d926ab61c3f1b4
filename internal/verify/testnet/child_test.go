package testnet

import "testing"

func TestRunPattern(t *testing.T) {
	for name, want := range map[string]string{
		"TestA":           "^TestA$",
		"TestA/sub_one":   "^TestA$/^sub_one$",
		"TestA/x.y(1)#01": `^TestA$/^x\.y\(1\)#01$`,
	} {
		if got := RunPattern(name); got != want {
			t.Errorf("RunPattern(%q) = %q, want %q", name, got, want)
		}
	}
}
