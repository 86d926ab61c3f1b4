package epollcheck

import (
	"context"
	"net"
	"net/netip"
	"runtime"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// The Linux engine: per check a non-blocking socket whose connect is
// watched, edge-triggered and one-shot, by one of a few epoll instances
// ("shards"), each served by a loop goroutine locked to its thread. An
// outcome known when connect returns is handled at once (see
// connectAndAdd); otherwise whichever goroutine first takes the socket's
// event, the loop or a check goroutine helping it, closes the socket in
// the same non-preemptible step (see collect), so the RST leaves long
// before the kernel's delayed-ACK timer fires, however late the waiting
// goroutine runs. Timeouts are enforced by the loops: no timer or channel
// is allocated per check.

// defaultShards is one epoll instance per two CPUs available to Go,
// at least one: the loops spread epoll_ctl contention without taking
// every CPU away from the goroutines that create sockets.
func defaultShards() int { return max(1, runtime.GOMAXPROCS(0)/2) }

// running is one run of the engine, from serve's start to its return.
type running struct {
	shards []*shard
}

func (e *Engine) serve(ctx context.Context, ready func(pollerFd int)) error {
	n := e.shards
	if n <= 0 {
		n = defaultShards()
	}
	r := &running{}
	for range n {
		s, err := newShard()
		if err != nil {
			for _, s := range r.shards {
				s.closeFds()
			}
			return err
		}
		r.shards = append(r.shards, s)
	}
	var wg sync.WaitGroup
	for _, s := range r.shards {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.loop()
		}()
	}
	e.cur.Store(r)
	ready(r.shards[0].epfd)
	<-ctx.Done()
	e.cur.Store(nil)
	for _, s := range r.shards {
		s.stop()
	}
	wg.Wait()
	return nil
}

func (e *Engine) check(target netip.AddrPort, deadline time.Time, zeroLinger bool) Outcome {
	r := e.cur.Load()
	if r == nil {
		return stopped
	}
	var scope uint32
	family := unix.AF_INET
	if target.Addr().Is6() {
		family = unix.AF_INET6
		var err error
		if scope, err = zoneIndex(target.Addr().Zone()); err != nil {
			return localError(&net.OpError{Op: "check", Net: "tcp",
				Err: &net.AddrError{Err: "unknown IPv6 zone: " + err.Error(), Addr: target.String()}})
		}
	}
	fd, err := openCheckSocket(family, zeroLinger)
	if err != nil {
		return localError(opError("dial", target, err))
	}
	return r.shards[fd%len(r.shards)].probe(fd, target, scope, monoOf(deadline))
}
