//go:build !linux

package netlab

// queued is 0: no Listener exists outside Linux.
func (l *Listener) queued() int64 { return 0 }
