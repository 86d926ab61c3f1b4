//go:build !unix

package main

import "os"

// openNoFollow opens name with flag; privileged, it refuses a symbolic
// link found by Lstat (this platform has no O_NOFOLLOW).
func openNoFollow(name string, flag int, privileged bool) (*os.File, error) {
	if privileged {
		if fi, err := os.Lstat(name); err == nil && fi.Mode()&os.ModeSymlink != 0 {
			return nil, &symlinkError{name}
		}
	}
	return os.OpenFile(name, flag, outputMode)
}

// privileged reports whether rawprobe runs with administrator rights;
// this platform's check is not made, so it reports false.
func privileged() bool { return false }
