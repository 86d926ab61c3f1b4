//go:build !linux

package record

import (
	"errors"
	"runtime"

	"github.com/rawprobe/rawprobe/internal/verify/golden"
	"github.com/rawprobe/rawprobe/internal/verify/netlab"
)

// Record fails: recording needs Linux network namespaces.
func Record(n *netlab.Net, l *netlab.Listener, d Def, dir string) (golden.Scenario, error) {
	return golden.Scenario{}, errors.New("record: not implemented on " + runtime.GOOS)
}

// SetupNetwork fails: the test network needs Linux network namespaces.
func SetupNetwork() (n *netlab.Net, l *netlab.Listener, remove func() error, err error) {
	return nil, nil, nil, errors.New("record: not implemented on " + runtime.GOOS)
}
