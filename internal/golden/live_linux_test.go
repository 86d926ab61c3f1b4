package golden_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/rawprobe/rawprobe/internal/golden"
	"github.com/rawprobe/rawprobe/internal/golden/record"
	"github.com/rawprobe/rawprobe/internal/testnet"
)

// Every scenario, recorded again in a fresh test network, reproduces its
// golden flag sequence (and Record checks the replayed state, the
// pcapcheck verdict, the SYN count and the connections accepted). The
// net.Dial scenario is the negative control: its flow must differ from
// the open-port flow of the probers.
func TestLiveFlagsMatchGolden(t *testing.T) {
	goldens := make(map[string]golden.Scenario)
	for _, s := range load(t) {
		goldens[s.Name] = s
	}
	n := testnet.New(t)
	l := n.Listen(t, "tcp", fmt.Sprintf(":%d", record.OpenPort))
	if err := record.WaitReady(n, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, d := range record.Defs() {
		t.Run(d.Name, func(t *testing.T) {
			want, ok := goldens[d.Name]
			if !ok {
				t.Fatalf("no golden capture for %s (run make pcaps)", d.Name)
			}
			live, err := record.Record(n, l, d, dir)
			if err != nil {
				t.Fatal(err)
			}
			if !golden.FlagsMatch(live.Flags, want.Flags, want.Match) {
				t.Errorf("live flags %q, golden %q (%s match)", live.Flags, want.Flags, want.Match)
			}
			if d.Engine == golden.EngineDial && golden.FlagsMatch(live.Flags, ">S <SA >R", "exact") {
				t.Errorf("net.Dial's flow %q looks like a half-open probe", live.Flags)
			}
		})
	}
}
