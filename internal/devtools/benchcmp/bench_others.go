//go:build !linux

package main

import (
	"errors"
	"runtime"
)

var errNotImplemented = errors.New("not implemented on " + runtime.GOOS)

// bench fails: the benchmark needs Linux network namespaces.
func bench(c config) error { return errNotImplemented }

// worker fails: the workers run only in the Linux benchmark.
func worker(c config) error { return errNotImplemented }

// checkTimeout matches the Linux workers' so the report compiles.
const checkTimeout = 0

func sendOnly(c config) error { return errNotImplemented }
