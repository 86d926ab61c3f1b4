package main

import (
	"context"
	"fmt"
)

func runDemo(ctx context.Context, args []string, e env) int {
	fmt.Fprintln(e.stderr, "rawprobe: demo is not built yet")
	return 3
}
