//go:build !linux

package pcapcheck

import (
	"errors"
	"runtime"
)

// openSource fails: AF_PACKET capture exists only on Linux.
func openSource(ifname string) (source, error) {
	return nil, errors.New("pcapcheck: capture not implemented on " + runtime.GOOS)
}

func isTimeout(err error) bool { return false }
