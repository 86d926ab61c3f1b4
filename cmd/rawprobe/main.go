// Command rawprobe probes TCP ports without completing the handshake.
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "rawprobe: the command is not built yet")
	os.Exit(3)
}
