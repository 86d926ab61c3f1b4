package engine

// GCPercent is the command's garbage collection target (GOGC) unless the
// environment sets one. A scan's heap is mostly pointer-free tables (the
// raw engine's pending probes and its memory of finished ones) and the
// engine allocates nothing per SYN, so a collection is cheap, while the
// headroom Go leaves the heap by default (100%) would be most of a big
// scan's resident memory. Measured on the 16.7 M-target scan (benchcmp
// -send-only -big): 25 takes about 10 collections instead of 5 and 1 MiB
// less peak RSS than 50, at the same CPU. The rawcheck library leaves the
// process's GC settings alone.
const GCPercent = 25
