package epollcheck

import (
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// A slot carries one check from its registration with the epoll instance
// to its result. Slots are reused; each use gets a new generation, and the
// epoll event carries (index, generation), so an event or timeout meant for
// an earlier use of the slot, or for an fd number the kernel has since
// reused, is recognised and dropped.
//
// state packs the generation (high 32 bits) and the phase (low 32 bits).
// Whoever moves a slot out of phaseRegistering or phaseArmed by
// compare-and-swap owns its fd from then on: it closes the fd, stores
// result and signals done. Nobody else touches the fd.
type slot struct {
	state    atomic.Uint64
	deadline atomic.Int64 // monotonic ns (see monoNow) when the check times out
	fd       int32        // written before the slot leaves phaseIdle
	result   int32        // errno, or one of the result* values; written before done is signalled
	index    uint32       // position in the shard's table
	done     chan struct{}
	help     *helpSpace // scratch space of the check using the slot (see shard.help)
}

// helpBatch is how many ready events a check goroutine handles at most
// when it helps the loop. Small: sockets taken by a thread the kernel then
// deschedules stay open until it runs again (the loop's thread asks for a
// higher priority; check goroutines' threads do not).
const helpBatch = 4

// helpSpace is the scratch space shard.help needs.
type helpSpace struct {
	events [helpBatch]unix.EpollEvent
	closed [helpBatch]closedSlot
}

// Slot phases.
const (
	phaseIdle        = 0 // free or being prepared by its owner
	phaseRegistering = 1 // epoll_ctl ADD in progress; the loop may complete it on an event but never times it out
	phaseArmed       = 2 // registered; the loop completes it on an event, timeout or shutdown
	phaseDone        = 3 // taken by someone who will close the fd and signal done
)

// Results other than an errno (0 means SYN-ACK).
const (
	resultTimeout = -1
	resultStopped = -2
)

func packState(gen, phase uint32) uint64 { return uint64(gen)<<32 | uint64(phase) }

// take moves the slot from phase from to phaseDone if it is still at
// generation gen, and reports whether it did (the caller then owns the fd).
//
//go:nosplit
func (s *slot) take(gen, from uint32) bool {
	return s.state.CompareAndSwap(packState(gen, from), packState(gen, phaseDone))
}

// Slot table geometry: chunks are allocated as the number of checks in
// flight grows and are never freed while the engine runs.
const (
	chunkBits = 10
	chunkSize = 1 << chunkBits
	maxChunks = 1024 // up to 1M checks in flight per shard
)

type slotChunk [chunkSize]slot

// slotTable hands out slots and finds them by index.
type slotTable struct {
	chunks [maxChunks]atomic.Pointer[slotChunk]
	count  atomic.Uint32 // slots allocated so far

	mu   sync.Mutex
	free []*slot
}

// get returns the slot at index i, or nil if there is none.
//
//go:nosplit
func (t *slotTable) get(i uint32) *slot {
	if i >= t.count.Load() {
		return nil
	}
	return &t.chunks[i>>chunkBits].Load()[i&(chunkSize-1)]
}

// acquire returns an idle slot, or nil when the table is full.
func (t *slotTable) acquire() *slot {
	t.mu.Lock()
	if n := len(t.free); n > 0 {
		s := t.free[n-1]
		t.free = t.free[:n-1]
		t.mu.Unlock()
		return s
	}
	defer t.mu.Unlock()
	n := t.count.Load()
	if n == chunkSize*maxChunks {
		return nil
	}
	c := t.chunks[n>>chunkBits].Load()
	if c == nil {
		c = new(slotChunk)
		for i := range c {
			c[i].index = n + uint32(i)
			c[i].done = make(chan struct{}, 1)
			c[i].help = new(helpSpace)
		}
		t.chunks[n>>chunkBits].Store(c)
	}
	s := &c[n&(chunkSize-1)]
	t.count.Store(n + 1)
	return s
}

// release returns an idle slot to the table.
func (t *slotTable) release(s *slot) {
	t.mu.Lock()
	t.free = append(t.free, s)
	t.mu.Unlock()
}

// each calls fn for every slot allocated so far.
func (t *slotTable) each(fn func(*slot)) {
	n := t.count.Load()
	for ci := uint32(0); ci<<chunkBits < n; ci++ {
		c := t.chunks[ci].Load()
		for i := range c {
			if ci<<chunkBits+uint32(i) >= n {
				return
			}
			fn(&c[i])
		}
	}
}
