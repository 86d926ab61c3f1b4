// Command mkpcaps records the golden captures of testdata/pcaps (`make
// pcaps`). As root it builds a private test network (internal/verify/netlab),
// records every scenario of internal/verify/golden/record into <out>/<name>.pcap
// with its replay data in <out>/<name>.txt, checks each recording against
// the scenario's expectations, and removes the network. It writes nothing
// for a scenario whose recording does not match.
//
// Usage:
//
//	go run ./internal/devtools/mkpcaps -out testdata/pcaps [-only name,name]
package main

import (
	"flag"
	"fmt"
	"os"
	"strings"
)

func main() {
	out := flag.String("out", "testdata/pcaps", "directory the captures and scenario files are written to")
	only := flag.String("only", "", "comma-separated scenario names to record (default: all)")
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "mkpcaps: unexpected arguments %q\n", flag.Args())
		os.Exit(2)
	}
	var names []string
	if *only != "" {
		names = strings.Split(*only, ",")
	}
	if err := run(*out, names); err != nil {
		fmt.Fprintln(os.Stderr, "mkpcaps:", err)
		os.Exit(1)
	}
}
