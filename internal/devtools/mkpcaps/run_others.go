//go:build !linux

package main

import (
	"errors"
	"runtime"
)

// run fails: recording needs Linux network namespaces.
func run(dir string, names []string) error {
	return errors.New("not implemented on " + runtime.GOOS)
}
