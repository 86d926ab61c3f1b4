package rawcheck

import "unsafe"

// entrySize is the size of one pendingProbe.
const entrySize = int(unsafe.Sizeof(pendingProbe{}))
