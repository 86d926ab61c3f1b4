package epollcheck

import "sync/atomic"

// hookPoint names a point in a check or in a shard's loop where a test may
// pause it, to put events in an order that timing alone rarely produces.
type hookPoint uint8

const (
	hookCheckFirstPoll hookPoint = iota // a check has registered its socket and is about to poll the epoll instance
	hookCheckLastPoll                   // a check has its result and is about to poll the epoll instance once more
	hookLoopPoll                        // a loop is about to poll its epoll instance
)

// testHook is nil outside tests. A test stores a function that the points
// above call, and that may block.
var testHook atomic.Pointer[func(hookPoint)]

// runTestHook calls the test hook, if any, at point p.
func runTestHook(p hookPoint) {
	if h := testHook.Load(); h != nil {
		(*h)(p)
	}
}
