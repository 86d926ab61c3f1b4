//go:build !linux

package privdrop

// Drop does nothing: only Linux has capabilities for rawprobe to drop.
func Drop(keep ...Capability) error { return nil }
