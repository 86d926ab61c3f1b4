package rawcheck_test

import (
	"fmt"

	"github.com/rawprobe/rawprobe/rawcheck"
)

// A bad Config is refused before any socket is opened, with an error
// naming the field.
func ExampleNew_badConfig() {
	_, err := rawcheck.New(rawcheck.Config{SourcePorts: [2]uint16{62000, 61000}})
	fmt.Println(err)
	// Output: rawcheck: bad Config.SourcePorts 62000-61000: want 1 <= low <= high
}

func ExampleState_String() {
	for _, s := range []rawcheck.State{rawcheck.Open, rawcheck.Closed, rawcheck.Timeout, rawcheck.Unreachable, rawcheck.NoRoute} {
		fmt.Println(s)
	}
	// Output:
	// open
	// closed
	// timeout
	// unreachable
	// noroute
}
