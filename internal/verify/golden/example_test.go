package golden_test

import (
	"fmt"

	"github.com/rawprobe/rawprobe/internal/verify/golden"
)

// Replaying the golden capture of an open IPv4 port: the SYN-ACK validates
// against the recorded cookie key, and the prober's kernel answered it
// with a single RST.
func ExampleReplay() {
	all, err := golden.Load("../../../testdata/pcaps")
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, s := range all {
		if s.Name != "ipv4-open" {
			continue
		}
		o, err := golden.Replay(s, "../../../testdata/pcaps")
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println(s.Name, o.State, s.Flags)
	}
	// Output: ipv4-open open >S <SA >R
}
