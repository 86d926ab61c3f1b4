package rawcheck

import "unsafe"

// prefetch asks the CPU to bring the cache line at p into its caches
// (PREFETCHT0) without waiting for it: the loads of a batch, issued first,
// overlap their cache misses, where loads would stall the CPU one by one
// once the loop around them is long. p need not be valid: a prefetch never
// faults.
//
//go:noescape
func prefetch(p unsafe.Pointer)
