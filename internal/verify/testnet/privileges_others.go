//go:build !linux

package testnet

import "runtime"

// missingPrivileges: test networks need Linux network namespaces.
func missingPrivileges() string {
	return "needs Linux network namespaces, not implemented on " + runtime.GOOS
}
