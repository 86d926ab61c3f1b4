package record

import (
	"errors"
	"fmt"

	"github.com/rawprobe/rawprobe/internal/verify/netlab"
)

// SetupNetwork builds, for programs (make pcaps, make bench), the test
// network recordings run in: netlab.SetupRemovedOnExit (so an interrupt
// removes it too) with a Listener on OpenPort in the target namespace.
// The caller must call remove, also when it fails later: it closes the
// Listener and removes the network, and may be called more than once.
func SetupNetwork() (n *netlab.Net, l *netlab.Listener, remove func() error, err error) {
	n, removeNet, err := netlab.SetupRemovedOnExit()
	if err != nil {
		return nil, nil, nil, err
	}
	l, err = n.Listen("tcp", fmt.Sprintf(":%d", OpenPort))
	if err != nil {
		return nil, nil, nil, errors.Join(err, removeNet())
	}
	remove = func() error {
		l.Close()
		return removeNet()
	}
	return n, l, remove, nil
}
