//go:build !linux

// Package loopback gives tests the loopback targets they check against
// (Linux only).
package loopback
