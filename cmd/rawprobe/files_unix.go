//go:build unix

package main

import (
	"errors"
	"os"
	"syscall"
)

// openNoFollow opens name with flag; privileged, it refuses a symbolic
// link with O_NOFOLLOW, so no check-then-open race exists.
func openNoFollow(name string, flag int, privileged bool) (*os.File, error) {
	if privileged {
		flag |= syscall.O_NOFOLLOW
	}
	f, err := os.OpenFile(name, flag, outputMode)
	if privileged && errors.Is(err, syscall.ELOOP) {
		return nil, &symlinkError{name}
	}
	return f, err
}

// privileged reports whether rawprobe runs as root, when it must not
// follow a symbolic link someone else may have planted.
func privileged() bool { return os.Geteuid() == 0 }
