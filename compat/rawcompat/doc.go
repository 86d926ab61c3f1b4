// Package rawcompat serves package compat's tcp-shaker-compatible Checker
// API from rawprobe's raw SYN engine (package rawcheck) instead of
// connect(): see NewRawChecker. It is a package of its own so that compat
// itself depends on nothing beyond the standard library and
// golang.org/x/sys.
package rawcompat
