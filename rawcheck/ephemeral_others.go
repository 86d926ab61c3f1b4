//go:build !linux

package rawcheck

import (
	"errors"
	"fmt"
)

// ephemeralPorts reports that there is no ephemeral port range to check
// against: the engine runs on Linux only.
func ephemeralPorts() (lo, hi uint16, err error) {
	return 0, 0, fmt.Errorf("rawcheck: no ephemeral port range here: %w", errors.ErrUnsupported)
}
