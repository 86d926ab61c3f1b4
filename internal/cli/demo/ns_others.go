//go:build !linux

package demo

import (
	"context"
	"runtime"
)

// runNamespaces is Linux-only; elsewhere the demo runs on loopback.
func runNamespaces(context.Context, DropFunc) (*observation, string, error) {
	return nil, "private network namespaces need Linux, not " + runtime.GOOS, nil
}
