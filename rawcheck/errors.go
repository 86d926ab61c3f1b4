package rawcheck

import "errors"

// ErrClosed is returned by the methods of a Prober after Close.
var ErrClosed = errors.New("rawcheck: prober closed")
