package rawcheck

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"

	"github.com/rawprobe/rawprobe/synack"
)

// sendBatchSize is the number of SYNs per sendmmsg.
const sendBatchSize = SweepBatchSize

// synOptions are the TCP options of our SYNs: what Linux sends, less the
// timestamps. IPv4 SYNs carry a counter as identification: with a zero one
// the kernel would pick one per packet itself (ip_select_ident), a hash and
// an atomic shared by all sending CPUs.
var synOptions = synack.TCPOptions{MSS: 1460, SACKPermitted: true, WindowScale: 7}

// engine is the Linux implementation behind Prober.
type engine struct {
	s     settings
	key   synack.CookieKey
	epoch time.Time

	ports      *portReservation
	nextPort   atomic.Uint32
	raw4, raw6 *ipSocket     // raw6 is nil without IPv6
	pkt        *packetSocket // AF_PACKET: whole Ethernet frames
	// scanPkts are AF_PACKET sockets of the scan senders, one each (see
	// scanner.startSenders).
	scanPkts []*packetSocket
	lst      *listener // replies on every interface
	router   *router
	neigh    *neighbours // next hops on Ethernet links
	filter   []bpf.Instruction
	bucket   sendLimiter
	backoff  sendBackoff // pauses sending while the engine loses packets
	count    counters

	routesMu  sync.Mutex               // guards the fields below and the router's build
	routes    atomic.Pointer[[]*route] // by id; copied on append, read without lock
	routeBy   map[routeKey]*route
	templates map[netip.Addr]*synack.Template

	mu       sync.Mutex // guards table, timing, sessions and the Sweeps' state
	table    *pendingTable
	sweeping *sweepState // the running Sweep, or the last one, or nil
	// sweepBatches numbers the batches of every Sweep, nil until the
	// first.
	sweepBatches *sweepBatches
	sweepMu      chan struct{} // held (sent to) by the running Sweep
	nonces       *nonceSource
	timing       *timing
	sessions     []*session // by id
	freeSess     []uint32

	wake      chan struct{} // tells the expiry loop that probes are pending
	closed    chan struct{}
	closeOnce sync.Once
	closeErr  error
	wg        sync.WaitGroup
	batches   sync.Pool // *sendBatch of one packet, for Probe
}

type routeKey struct {
	src     netip.Addr
	ifindex int
	gw      netip.Addr
}

// session is one caller waiting for results: a Probe (probe != nil) or a
// Scan. Its fields are guarded by engine.mu.
type session struct {
	id       uint32
	probe    chan Result
	results  []Result
	notify   chan struct{}
	inflight int
	entry    uint32 // a Probe's pending entry (index + 1) while inflight
}

// newEngine opens everything in the calling thread's namespace.
func newEngine(s settings) (_ *engine, err error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	fixed := s.attempts
	if s.adaptive {
		fixed = 0
	}
	tm := newTiming(s.timeout, fixed, s.attemptCeiling, rand.Uint64())
	e := &engine{
		s:         s,
		epoch:     time.Now(),
		bucket:    newSendLimiter(s.rate, sendBatchSize),
		routeBy:   make(map[routeKey]*route),
		templates: make(map[netip.Addr]*synack.Template),
		table:     newPendingTable(min(s.window, 1<<20), rand.Uint64(), tm.classes...),
		timing:    tm,
		wake:      make(chan struct{}, 1),
		closed:    make(chan struct{}),
		sweepMu:   make(chan struct{}, 1),
	}
	defer func() {
		if err != nil {
			e.release()
		}
	}()
	// Everything that needs CAP_NET_RAW is opened here and nowhere else, so
	// that the process may drop the capability once New has returned: the
	// raw sockets first, then the one listener bound to every interface.
	if e.raw4, err = openIPSocket(unix.AF_INET); err != nil {
		return nil, err
	}
	if e.raw6, err = openIPSocket(unix.AF_INET6); err != nil {
		if !errors.Is(err, unix.EAFNOSUPPORT) {
			return nil, err
		}
		e.raw6, err = nil, nil
	}
	if s.key != nil {
		e.key = *s.key
	} else if e.key, err = synack.NewCookieKey(); err != nil {
		return nil, err
	}
	if e.nonces, err = newNonceSource(min(s.window, 1<<20)); err != nil {
		return nil, err
	}
	// The ports before the filter: it accepts replies to this engine's
	// chunk only, not to other engines' chunks of the same range.
	if e.ports, err = reservePorts(s.portLow, s.portHigh, SourcePortChunk, s.ownRST && !s.keepKernelRST); err != nil {
		return nil, err
	}
	if e.filter, err = synack.Filter(synack.LinkIP, e.ports.lo, e.ports.hi); err != nil {
		return nil, err
	}
	if s.iface != "" {
		if _, ierr := net.InterfaceByName(s.iface); ierr != nil {
			return nil, fmt.Errorf("rawcheck: bad Config.Interface %q: %w", s.iface, ierr)
		}
	}
	if e.pkt, err = openPacketSender(); err != nil {
		return nil, err
	}
	for range scanSenders() {
		sp, err := openPacketSender()
		if err != nil {
			return nil, err
		}
		e.scanPkts = append(e.scanPkts, sp)
	}
	if e.lst, err = openListener(e.filter, ringBlocks(s.rate, s.timeout), &e.count.ringDrops); err != nil {
		return nil, err
	}
	e.wg.Add(1)
	go func(l *listener) {
		defer e.wg.Done()
		l.run(newReceiver(e))
	}(e.lst)
	nh, err := netlink.NewHandle(unix.NETLINK_ROUTE)
	if err != nil {
		return nil, &net.OpError{Op: "socket", Net: "netlink", Err: err}
	}
	e.neigh = newNeighbours(nh, e.now, s.timeout)
	h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
	if err != nil {
		return nil, &net.OpError{Op: "socket", Net: "netlink", Err: err}
	}
	if e.router, err = newRouter(h, s.iface, e.buildRoute); err != nil {
		h.Close()
		return nil, err
	}
	e.nextPort.Store(rand.Uint32())
	e.batches.New = func() any { return newSendBatch(1) }
	e.wg.Add(1)
	go e.expireLoop()
	return e, nil
}

// now is the engine's monotonic clock in ns.
func (e *engine) now() int64 { return int64(time.Since(e.epoch)) }

// buildRoute returns the route for source src on interface ifindex via
// gateway gw (invalid for on-link targets): the router calls it each time
// it refreshes its cache. Next hops are resolved by the neighbour cache.
func (e *engine) buildRoute(src netip.Addr, ifindex int, gw netip.Addr) (*route, error) {
	e.routesMu.Lock()
	defer e.routesMu.Unlock()
	select {
	case <-e.closed:
		return nil, ErrClosed
	default:
	}
	k := routeKey{src, ifindex, gw}
	if r := e.routeBy[k]; r != nil {
		if r.hop != nil {
			e.neigh.hop(ifindex, r.own, gw, true) // lists the table again every routeCacheTTL
		}
		return r, nil
	}
	if src.Is6() && e.raw6 == nil {
		return nil, fmt.Errorf("rawcheck: cannot send IPv6 from %v: no IPv6 raw socket", src)
	}
	tmpl := e.templates[src]
	if tmpl == nil {
		opts := synOptions
		if src.Is6() {
			opts.MSS = 1440
		}
		var err error
		if tmpl, err = synack.NewTemplate(synack.TemplateConfig{Src: src, Options: opts, IPID: synack.IPIDCounter}); err != nil {
			return nil, err
		}
		e.templates[src] = tmpl
	}
	var routes []*route
	if old := e.routes.Load(); old != nil {
		routes = *old
	}
	r := &route{id: uint32(len(routes)), src: src, ifindex: ifindex, gw: gw, tmpl: tmpl}
	if e.pkt != nil {
		var err error
		if r.own, r.ether, err = etherMAC(e.router.h, ifindex); err != nil {
			return nil, err
		}
		if r.ether && gw.IsValid() {
			r.hop = e.neigh.hop(ifindex, r.own, gw, true)
		}
	}
	routes = append(routes[:len(routes):len(routes)], r)
	e.routes.Store(&routes)
	e.routeBy[k] = r
	return r, nil
}

// route returns the route to dst.
func (e *engine) route(dst netip.Addr) (*route, error) {
	return e.router.lookup(dst)
}

// newSession registers a Probe (probe) or Scan session.
func (e *engine) newSession(probe bool) *session {
	e.mu.Lock()
	defer e.mu.Unlock()
	var s *session
	if n := len(e.freeSess); n > 0 {
		s = e.sessions[e.freeSess[n-1]]
		e.freeSess = e.freeSess[:n-1]
	} else {
		s = &session{id: uint32(len(e.sessions))}
		e.sessions = append(e.sessions, s)
	}
	switch {
	case probe && s.probe == nil:
		s.probe = make(chan Result, 1)
	case !probe:
		s.probe = nil
		if s.notify == nil {
			s.notify = make(chan struct{}, 1)
		}
	}
	s.inflight = 0
	s.results = s.results[:0]
	return s
}

// endSession drops the session's probes still pending, remembering their
// nonces as finished (see nonceSource), and frees it.
func (e *engine) endSession(s *session) {
	e.mu.Lock()
	defer e.mu.Unlock()
	switch {
	case s.inflight == 0:
	case s.probe != nil: // O(1): a Probe has one entry
		p := e.table.at(s.entry)
		e.nonces.finished(&p.key, p.nonce, p.attempts)
		e.table.remove(s.entry)
	default:
		// Remembered like every other probe that ends, so that replies
		// still coming count as late, and with Config.OwnRST a SYN-ACK
		// among them still gets its RST.
		e.table.removeSession(s.id, func(p *pendingProbe) {
			e.nonces.finished(&p.key, p.nonce, p.attempts)
		})
	}
	if s.probe != nil {
		select {
		case <-s.probe:
		default:
		}
	}
	s.inflight = 0
	s.results = s.results[:0]
	if s.notify != nil {
		select {
		case <-s.notify:
		default:
		}
	}
	e.freeSess = append(e.freeSess, s.id)
}

// insertLocked adds a probe of target for session s, choosing a source port
// no pending probe of the same target uses and drawing the probe's nonce.
// It returns the port and the nonce, or false if every port is taken for
// that target. e.mu must be held.
func (e *engine) insertLocked(target netip.AddrPort, rt *route, s *session, now int64) (uint16, uint32, bool) {
	sport := e.nextSourcePort()
	k := keyOf(target, sport)
	return e.insertFromLocked(target, rt, s, now, sport, e.table.keyHash(&k))
}

// nextSourcePort returns the next source port of the engine's range in
// turn.
func (e *engine) nextSourcePort() uint16 {
	ports := e.ports.ports
	return ports[e.nextPort.Add(1)%uint32(len(ports))]
}

// insertFromLocked is insertLocked trying source port sport first, whose
// probe key has keyHash h.
func (e *engine) insertFromLocked(target netip.AddrPort, rt *route, s *session, now int64, sport uint16, h uint32) (uint16, uint32, bool) {
	// The first attempt's timeout depends on the target only, not on the
	// source port tried.
	class, provisional := e.timing.lastClass(), false // the first attempt is the last
	if e.timing.fixedAttempts != 1 {
		addr := target.Addr().As16()
		class, provisional = e.timing.timeout(&addr, 1)
	}
	for try := range len(e.ports.ports) { // more than one try only if the same target is pending
		k := keyOf(target, sport)
		if try > 0 {
			sport = e.nextSourcePort()
			k = keyOf(target, sport)
			h = e.table.keyHash(&k)
		}
		if i := e.table.insertHashed(k, h, s.id, rt.id, now, class); i != 0 {
			p := e.table.at(i)
			p.provisional = provisional
			p.nonce = e.nonces.next()
			s.inflight++
			s.entry = i
			return sport, p.nonce, true
		}
	}
	return 0, 0, false
}

// finishLocked ends pending probe i with result r. e.mu must be held.
func (e *engine) finishLocked(i uint32, r Result) {
	e.table.unlink(i)
	e.finishUnlinkedLocked(i, r)
}

// finishUnlinkedLocked is finishLocked of a probe already taken off its
// expiry list. e.mu must be held.
func (e *engine) finishUnlinkedLocked(i uint32, r Result) {
	p := e.table.at(i)
	s := e.sessions[p.session]
	e.nonces.finished(&p.key, p.nonce, p.attempts)
	e.table.drop(i)
	s.inflight--
	e.reportLocked(s, r)
}

// reportLocked counts result r of session s and hands it to s. e.mu must
// be held.
func (e *engine) reportLocked(s *session, r Result) {
	switch r.State {
	case Open:
		e.count.open.Add(1)
	case Closed:
		e.count.closed.Add(1)
	case Unreachable:
		e.count.unreachable.Add(1)
	case Timeout:
		e.count.timeouts.Add(1)
	case NoRoute: // a first SYN the kernel refused (settleRefused)
		e.count.noRoute.Add(1)
	}
	if s.probe != nil {
		s.probe <- r // buffered: one result per Probe
		return
	}
	s.results = append(s.results, r)
	select {
	case s.notify <- struct{}{}:
	default:
	}
}

// fill writes the SYN of a probe from sport to target via rt into b, its
// sequence number the cookie XOR the probe's nonce.
func (e *engine) fill(b *sendBatch, rt *route, target netip.AddrPort, sport uint16, nonce uint32) {
	dst := target.Addr()
	seq := e.key.Sequence(rt.src, dst, sport, target.Port(), nonce)
	if p := e.ethPath(rt, dst); p != nil {
		n := rt.tmpl.FillPacket(b.nextFrame(), dst, sport, target.Port(), seq)
		b.addFrame(n, p)
		return
	}
	n := rt.tmpl.FillPacket(b.next(), dst, sport, target.Port(), seq)
	b.add(n, dst)
}

// sendBatch sends b, taps it and counts it. The error is only for a socket
// that can no longer send (closed).
func (e *engine) sendBatch(b *sendBatch) error { return e.sendBatchOn(b, e.pkt) }

// sendBatchOn is sendBatch with the Ethernet frames sent on sp.
func (e *engine) sendBatchOn(b *sendBatch, sp *packetSocket) error {
	if b.len() == 0 {
		return nil
	}
	err := b.send(e.raw4, e.raw6, sp)
	if err == nil {
		b.tapSent(e.s.tap)
	}
	e.count.sent.Add(uint64(b.len() - len(b.failed)))
	e.count.sendErrors.Add(uint64(len(b.failed)))
	// A refusal for want of buffers is a per-packet errno (b.errs); err is
	// only a socket that cannot send at all.
	e.backoff.observe(e.now(), slices.Contains(b.errs, unix.ENOBUFS), e.count.ringDrops.Load())
	select {
	case e.wake <- struct{}{}:
	default:
	}
	if err != nil {
		select {
		case <-e.closed:
			return ErrClosed
		default:
		}
		return err
	}
	return nil
}

// maxBufferRefusals is how many of a probe's SYNs the kernel may refuse
// for want of buffers (ENOBUFS) before the probe ends without them.
const maxBufferRefusals = 4

// settleRefused ends the pending probes whose SYN in b the kernel refused
// (b.failed), after engine.sendBatch: a SYN that never left is not waited
// for, and not counted among a probe's attempts. retransmitted says b holds
// retransmissions (from expireLoop) rather than first attempts (from a
// Scan's senders). The refused attempt is taken off the probe; then a
// probe with no attempt left (its first SYN refused: a local broadcast
// address, a prohibit route, a firewall rule on output) ends as NoRoute
// with nothing sent, and one whose refused SYN was a retransmission ends as
// Timeout with the attempts that did leave: its earlier attempt had timed
// out already, and sending again a SYN the kernel refuses would loop. A
// refused first attempt whose retransmission the expiry loop has sent
// meanwhile (it raced ahead of a slow sender) stays pending for that one.
//
// A SYN refused for want of buffers (ENOBUFS) is not an attempt either,
// but says nothing of the target: its probe stays pending, waits out the
// attempt's timeout and is sent again (the backoff answers the loss), and
// ends as above only when the kernel has refused it maxBufferRefusals
// times. A refused packet whose probe is no longer pending, or
// is pending again for another probe of the same 4-tuple (another nonce,
// so another sequence number), is left alone too.
func (e *engine) settleRefused(b *sendBatch, retransmitted bool) {
	if len(b.failed) == 0 {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	for j, i := range b.failed {
		syn, ok := synack.ParseSYN(b.packet(i))
		if !ok {
			continue
		}
		k := e.table.lookup(keyOf(netip.AddrPortFrom(syn.Dst, syn.DstPort), syn.SrcPort))
		if k == 0 {
			continue
		}
		p := e.table.at(k)
		if e.key.Sequence(syn.Src, syn.Dst, syn.SrcPort, syn.DstPort, p.nonce) != syn.Seq || p.attempts == 0 {
			continue
		}
		latest := retransmitted || p.attempts == 1
		p.attempts--
		if b.errs[j] == unix.ENOBUFS {
			// Lost for want of buffers: the target is still to be
			// probed. The probe waits out the attempt's timeout and is
			// sent again, unless the kernel keeps refusing.
			if p.bufferRefusals++; p.bufferRefusals < maxBufferRefusals || !latest {
				continue
			}
		}
		switch {
		case p.attempts == 0:
			e.finishLocked(k, Result{Target: p.key.target(), State: NoRoute})
		case latest:
			e.finishLocked(k, Result{Target: p.key.target(), State: Timeout, Attempts: int(p.attempts)})
		}
	}
}

// stats returns the counters, with the rings' latest drop counts.
func (e *engine) stats() Stats {
	e.routesMu.Lock()
	select {
	case <-e.closed:
	default:
		if e.lst != nil {
			e.lst.countDrops()
		}
	}
	e.routesMu.Unlock()
	st := e.count.snapshot()
	e.mu.Lock()
	st.RTTSamples = e.timing.rttSamples
	st.RTTP50 = e.timing.percentile(0.5)
	st.RTTP99 = e.timing.percentile(0.99)
	st.LossEstimate = e.timing.loss(e.count.late.Load())
	e.mu.Unlock()
	st.RateBackoffs = e.backoff.backoffs()
	return st
}

// close stops everything; see Prober.Close.
func (e *engine) close() error {
	e.closeOnce.Do(func() {
		e.routesMu.Lock()
		close(e.closed)
		e.routesMu.Unlock()
		e.closeErr = e.release()
		e.wg.Wait()
	})
	return e.closeErr
}

// release closes every socket the engine holds. Listeners are closed after
// their read loop stopped, so their ring is unmapped safely.
func (e *engine) release() error {
	var errs []error
	if e.raw4 != nil {
		errs = append(errs, e.raw4.close())
	}
	if e.raw6 != nil {
		errs = append(errs, e.raw6.close())
	}
	if e.pkt != nil {
		errs = append(errs, e.pkt.close())
	}
	for _, sp := range e.scanPkts {
		errs = append(errs, sp.close())
	}
	if e.lst != nil {
		errs = append(errs, e.lst.close())
	}
	if e.ports != nil {
		e.ports.close()
	}
	if e.router != nil {
		e.router.close()
	}
	if e.neigh != nil {
		e.neigh.close()
	}
	return errors.Join(errs...)
}

// sysErr wraps errno from call as the error of an operation on target.
func sysErr(op string, target netip.AddrPort, call string, errno error) error {
	return &net.OpError{Op: op, Net: "ip:raw", Addr: net.TCPAddrFromAddrPort(target), Err: os.NewSyscallError(call, errno)}
}
