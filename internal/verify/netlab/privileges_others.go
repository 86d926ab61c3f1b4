//go:build !linux

package netlab

import "runtime"

// MissingPrivileges says what keeps this process from building a network
// with Setup: networks need Linux network namespaces.
func MissingPrivileges() string {
	return "needs Linux network namespaces, not implemented on " + runtime.GOOS
}
