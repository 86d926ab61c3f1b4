package rawcheck

import (
	"context"
	"fmt"
	"iter"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
)

// probe implements Prober.Probe for a checked target.
func (e *engine) probe(ctx context.Context, target netip.AddrPort) (Result, error) {
	select {
	case <-e.closed:
		return Result{}, ErrClosed
	default:
	}
	if err := e.checkFamily(target); err != nil {
		return Result{}, err
	}
	rt, err := e.route(target.Addr())
	if isNoRoute(err) {
		return e.noRoute(target), nil
	}
	if err != nil {
		return Result{}, err
	}
	if err := e.bucket.wait(ctx, e.closed, 1); err != nil {
		return Result{}, err
	}
	s := e.newSession(true)
	defer e.endSession(s)
	e.mu.Lock()
	sport, nonce, ok := e.insertLocked(target, rt, s, e.now())
	e.mu.Unlock()
	if !ok {
		return Result{}, fmt.Errorf("rawcheck: probing %v: every source port is busy with probes of that target", target)
	}
	b := e.batches.Get().(*sendBatch)
	defer func() {
		b.reset()
		e.batches.Put(b)
	}()
	e.fill(b, rt, target, sport, nonce)
	if err := e.sendBatch(b); err != nil {
		return Result{}, err
	}
	if len(b.failed) > 0 {
		return Result{}, sysErr("write", target, "sendmmsg", b.errs[0])
	}
	select {
	case r := <-s.probe:
		return r, nil
	case <-ctx.Done():
		return Result{}, ctx.Err()
	case <-e.closed:
		return Result{}, ErrClosed
	}
}

// checkFamily refuses an IPv6 target when the engine has no IPv6 raw
// socket (a kernel or namespace without IPv6).
func (e *engine) checkFamily(target netip.AddrPort) error {
	if target.Addr().Is6() && e.raw6 == nil {
		return fmt.Errorf("rawcheck: bad target %v: this engine cannot send IPv6 (no IPv6 raw socket)", target)
	}
	return nil
}

// noRoute counts and returns the result of a target the prober has no
// route to: NoRoute, with nothing sent (Attempts, RTT, TTL and the ICMP
// type and code all zero).
func (e *engine) noRoute(target netip.AddrPort) Result {
	e.count.noRoute.Add(1)
	return Result{Target: target, State: NoRoute}
}

// scanner is the state of one Scan: the batch of targets being prepared,
// the senders and the results being handed to yield.
//
// The scanning goroutine does the bookkeeping (route, pending table, SYN
// bytes) and hands full batches to sender goroutines, one per CPU and one
// more. On veth
// and loopback the kernel does the target's and our own receive processing
// inside the sending system call, so that is where the time goes, and
// sending from several threads spreads it over the CPUs.
type scanner struct {
	e     *engine
	s     *session
	yield func(Result)
	sweep bool // a Sweep: no pending probes (see sweepBatches)
	// taken counts a Sweep's targets taken since its last flush, those
	// without a route included (see SweepBatchSize).
	taken   int
	targets []netip.AddrPort
	routes  []*route
	sports  []uint16
	hashes  []uint32 // keyHash of the queued targets' probes (pendingTable)
	nonces  []uint32 // of the queued targets' probes
	out     []Result
	// The route of the last target and the table prefix it holds for,
	// reused for the next targets under that prefix until the batch is
	// sent: consecutive targets of a scan mostly share one prefix.
	lastPfx netip.Prefix
	lastRt  *route

	queue   chan *sendBatch // to the senders
	free    chan *sendBatch // back from them
	senders sync.WaitGroup
	sendErr atomic.Pointer[error]
}

// startSenders starts workers sender goroutines with two batches each.
func (sc *scanner) startSenders(workers int) {
	sc.queue = make(chan *sendBatch, 2*workers)
	sc.free = make(chan *sendBatch, 2*workers)
	for range 2 * workers {
		sc.free <- newSendBatch(cap(sc.targets))
	}
	for w := range workers {
		sp := sc.e.scanPkts[w%len(sc.e.scanPkts)]
		var spare *sendBatch // a Sweep's, for SYNs built again
		if sc.sweep {
			spare = newSendBatch(cap(sc.targets))
		}
		sc.senders.Add(1)
		go func() {
			defer sc.senders.Done()
			for b := range sc.queue {
				if err := sc.e.sendBatchOn(b, sp); err != nil {
					failed := err // escapes: a heap variable on this path only
					sc.sendErr.CompareAndSwap(nil, &failed)
				}
				// A probe whose first SYN the kernel refused gets its
				// result now, not a timeout later.
				if sc.sweep {
					sc.e.settleSweep(b, spare, sp)
				} else {
					sc.e.settleRefused(b, false)
				}
				b.reset()
				sc.free <- b
			}
		}()
	}
}

// stopSenders waits for the batches queued to be sent.
func (sc *scanner) stopSenders() error {
	close(sc.queue)
	sc.senders.Wait()
	if err := sc.sendErr.Load(); err != nil {
		return *err
	}
	return nil
}

// scan implements Prober.Scan.
func (e *engine) scan(ctx context.Context, targets iter.Seq[netip.AddrPort], yield func(Result)) error {
	select {
	case <-e.closed:
		return ErrClosed
	default:
	}
	sc := e.newScanner(yield, false)
	defer e.endSession(sc.s)
	return sc.run(ctx, targets, sc.drain)
}

// newScanner returns the scanner of a Scan or (sweep) a Sweep, with its
// session.
func (e *engine) newScanner(yield func(Result), sweep bool) *scanner {
	return &scanner{
		e:       e,
		s:       e.newSession(false),
		yield:   yield,
		sweep:   sweep,
		targets: make([]netip.AddrPort, 0, sendBatchSize),
		routes:  make([]*route, 0, sendBatchSize),
		sports:  make([]uint16, sendBatchSize),
		hashes:  make([]uint32, sendBatchSize),
		nonces:  make([]uint32, sendBatchSize),
	}
}

// run sends targets through the senders, then, unless that failed, waits
// for the answers with finish (drain, or a Sweep's cooldown).
func (sc *scanner) run(ctx context.Context, targets iter.Seq[netip.AddrPort], finish func(context.Context) error) error {
	sc.startSenders(len(sc.e.scanPkts))
	stopped := false
	defer func() { // also if yield or the iterator panics
		if !stopped {
			sc.stopSenders()
		}
	}()
	var err error
	for t := range targets {
		if err = sc.add(ctx, t); err != nil {
			break
		}
	}
	if err == nil {
		err = sc.flush(ctx)
	}
	stopped = true
	if serr := sc.stopSenders(); err == nil {
		err = serr
	}
	if err == nil {
		err = finish(ctx)
	}
	return err
}

// add queues target, sending the batch when full. A target the prober has
// no route to gets its NoRoute result at once.
func (sc *scanner) add(ctx context.Context, target netip.AddrPort) error {
	t, err := checkTarget(target)
	if err != nil {
		return err
	}
	if err := sc.e.checkFamily(t); err != nil {
		return err
	}
	rt, err := sc.route(t.Addr())
	if isNoRoute(err) {
		// Nothing to send or wait for: check for the end here, or a scan
		// of unroutable targets only would not notice it.
		select {
		case <-sc.e.closed:
			return ErrClosed
		default:
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		sc.yield(sc.e.noRoute(t))
		return sc.tookForSweep(ctx)
	}
	if err != nil {
		return err
	}
	sc.targets = append(sc.targets, t)
	sc.routes = append(sc.routes, rt)
	if len(sc.targets) == cap(sc.targets) {
		return sc.flush(ctx)
	}
	return sc.tookForSweep(ctx)
}

// tookForSweep counts a target a Sweep has taken and flushes once
// SweepBatchSize were taken since the last flush, so that at most that
// many are taken and not yet sent even when some have no route.
func (sc *scanner) tookForSweep(ctx context.Context) error {
	if !sc.sweep {
		return nil
	}
	if sc.taken++; sc.taken >= SweepBatchSize {
		return sc.flush(ctx)
	}
	return nil
}

// route returns the route to dst: the last target's if dst is under the
// same table prefix, else the router's answer. Next hops are resolved per
// SYN when it is built (engine.ethPath), so a cached route never hides a
// neighbour's change.
func (sc *scanner) route(dst netip.Addr) (*route, error) {
	if sc.lastPfx.IsValid() && sc.lastPfx.Contains(dst) {
		return sc.lastRt, nil
	}
	sc.lastPfx = netip.Prefix{}
	rt, p, err := sc.e.router.lookupPrefix(dst)
	if err != nil {
		return nil, err
	}
	sc.lastPfx, sc.lastRt = p, rt
	return rt, nil
}

// flush sends the queued targets as room in the window allows (a part of
// the batch as soon as there is room for it; a Sweep's at once) and tokens
// come.
func (sc *scanner) flush(ctx context.Context) error {
	e := sc.e
	sc.taken = 0
	for len(sc.targets) > 0 {
		room := len(sc.targets) // a Sweep has nothing in flight to bound
		if !sc.sweep {
			e.mu.Lock()
			room = e.s.window - sc.s.inflight
			e.mu.Unlock()
		}
		if room <= 0 {
			if err := sc.wait(ctx); err != nil {
				return err
			}
			continue
		}
		k := min(room, len(sc.targets))
		if err := sc.send(ctx, k); err != nil {
			return err
		}
		n := copy(sc.targets, sc.targets[k:])
		copy(sc.routes, sc.routes[k:])
		sc.targets, sc.routes = sc.targets[:n], sc.routes[:n]
	}
	// The routing tables are read again from time to time: the next
	// batch asks the router.
	sc.lastPfx = netip.Prefix{}
	if err := sc.sendErr.Load(); err != nil {
		return *err
	}
	sc.deliver()
	return ctx.Err()
}

// send records the first k queued targets as pending and hands their SYNs
// to a sender.
func (sc *scanner) send(ctx context.Context, k int) error {
	e := sc.e
	if err := e.bucket.wait(ctx, e.closed, k); err != nil {
		return err
	}
	if err := e.backoff.wait(ctx, e.closed, e.now()); err != nil {
		return err
	}
	targets, routes := sc.targets[:k], sc.routes[:k]
	// The source ports in turn, drawn for the whole batch at once.
	ports := e.ports.ports
	next := e.nextPort.Add(uint32(k)) - uint32(k)
	for i := range targets {
		next++
		sc.sports[i] = ports[next%uint32(len(ports))]
	}
	if sc.sweep {
		return sc.sendSweep(ctx, targets, routes)
	}
	e.mu.Lock()
	now := e.now()
	// The index slots of the whole batch, prefetched first: their cache
	// misses overlap instead of stalling the inserts one by one.
	for i, t := range targets {
		k := keyOf(t, sc.sports[i])
		sc.hashes[i] = e.table.keyHash(&k)
		e.table.prefetch(sc.hashes[i])
	}
	for i, t := range targets {
		sport, nonce, ok := e.insertFromLocked(t, routes[i], sc.s, now, sc.sports[i], sc.hashes[i])
		if !ok {
			e.mu.Unlock()
			return fmt.Errorf("rawcheck: scanning %v: every source port is busy with probes of that target", t)
		}
		sc.sports[i], sc.nonces[i] = sport, nonce
	}
	e.mu.Unlock()
	var b *sendBatch
	select {
	case b = <-sc.free:
	case <-ctx.Done():
		return ctx.Err()
	}
	for i, t := range targets {
		e.fill(b, routes[i], t, sc.sports[i], sc.nonces[i])
	}
	sc.queue <- b
	return nil
}

// deliver hands the results collected so far to yield.
func (sc *scanner) deliver() {
	e := sc.e
	e.mu.Lock()
	sc.out, sc.s.results = sc.s.results, sc.out[:0]
	e.mu.Unlock()
	for _, r := range sc.out {
		sc.yield(r)
	}
}

// wait delivers results, then waits for more or for the end.
func (sc *scanner) wait(ctx context.Context) error {
	sc.deliver()
	select {
	case <-sc.s.notify:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-sc.e.closed:
		return ErrClosed
	}
}

// drain waits for the results of every probe in flight.
func (sc *scanner) drain(ctx context.Context) error {
	for {
		sc.deliver()
		e := sc.e
		e.mu.Lock()
		left := sc.s.inflight + len(sc.s.results)
		e.mu.Unlock()
		if left == 0 {
			return nil
		}
		if err := sc.wait(ctx); err != nil {
			return err
		}
	}
}

// scanSenders returns the number of sender goroutines of a Scan: one more
// than CPUs (at most 4 CPUs' worth: sendmmsg does the kernel's work for
// the whole batch, so more senders only contend), so that while one is
// between batches or descheduled, the others keep every CPU sending. Each
// has an AF_PACKET socket of its own: sharing one, the senders' CPUs
// contend for its send-buffer accounting on every packet freed (measured:
// 9% more system CPU per SYN with one socket for three senders).
func scanSenders() int { return min(runtime.GOMAXPROCS(0), 4) + 1 }
