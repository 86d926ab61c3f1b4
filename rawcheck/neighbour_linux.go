package rawcheck

import (
	"math"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// maxNextHops bounds the neighbour cache. Once it is full, SYNs to a next
// hop not in it take the raw IP socket and the kernel resolves it.
const maxNextHops = 1 << 16

// neighbourWait is the longest a next hop may stay unresolved after the
// kernel was asked for it before its probes end as Unreachable: the
// kernel's default interval between ARP or NDP solicitations, so one of
// them went unanswered. A shorter Config.Timeout shortens it.
const neighbourWait = time.Second

// nextHop is one gateway or on-link destination of an Ethernet link and
// the state of its neighbour entry, as far as the engine knows it.
type nextHop struct {
	own [6]byte // the interface's MAC
	eth atomic.Pointer[ethPath]
	// askedAt is the engine clock at which a SYN first went to the
	// unresolved next hop through the raw IP socket, which has the kernel
	// solicit it; 0 while resolved or not asked.
	askedAt atomic.Int64
	failed  atomic.Bool // the kernel's entry went FAILED after askedAt
	gateway bool        // a route's gateway: kept as long as the cache
}

// unresolved reports whether h's neighbour stayed unresolved for wait
// after the kernel was asked, or the kernel gave up on it.
func (h *nextHop) unresolved(now int64, wait time.Duration) bool {
	if h.eth.Load() != nil {
		return false
	}
	a := h.askedAt.Load()
	return a != 0 && (h.failed.Load() || now-a >= int64(wait))
}

type hopKey struct {
	ifindex int
	addr    netip.Addr
}

// neighbourEntry is one entry of the kernel's neighbour table.
type neighbourEntry struct {
	mac   [6]byte
	state int
}

// neighbours is the engine's cache of next hops on Ethernet links, built
// from the kernel's neighbour table (netlink), which it lists again at
// most every neighbourRecheck while a next hop waits to be resolved, and
// every routeCacheTTL like the routes.
type neighbours struct {
	now  func() int64
	wait time.Duration // neighbourWait, or Config.Timeout if shorter

	waiting   atomic.Int64 // next hops asked and not resolved
	nextCheck atomic.Int64 // engine clock of the next listing allowed

	mu       sync.Mutex
	h        *netlink.Handle
	hops     map[hopKey]*nextHop
	seen     map[hopKey]neighbourEntry // the last listing
	listedAt int64
	loadedAt int64 // of the last listing after which the cache was trimmed
}

// newNeighbours returns a cache listing the neighbour table through h,
// which it closes.
func newNeighbours(h *netlink.Handle, now func() int64, timeout time.Duration) *neighbours {
	return &neighbours{
		now: now, wait: min(neighbourWait, timeout), h: h,
		hops: make(map[hopKey]*nextHop), seen: make(map[hopKey]neighbourEntry),
		listedAt: math.MinInt64 / 2, loadedAt: now(),
	}
}

// hop returns the next hop addr on Ethernet interface ifindex, whose own
// MAC is own, adding it to the cache; nil if the cache is full.
func (n *neighbours) hop(ifindex int, own [6]byte, addr netip.Addr, gateway bool) *nextHop {
	k := hopKey{ifindex, addr}
	n.mu.Lock()
	defer n.mu.Unlock()
	now := n.now()
	if now-n.loadedAt > int64(routeCacheTTL) {
		n.trimLocked(now)
	}
	if h := n.hops[k]; h != nil {
		h.gateway = h.gateway || gateway
		return h
	}
	if len(n.hops) >= maxNextHops {
		return nil
	}
	if now-n.listedAt >= int64(neighbourRecheck) {
		// An error leaves the next hop unresolved: its SYNs take the raw
		// IP socket, and the table is listed again later.
		_ = n.listLocked(now)
	}
	h := &nextHop{own: own, gateway: gateway}
	n.hops[k] = h
	n.applyLocked(k, h, now)
	return h
}

// find returns the cached next hop addr on ifindex, or nil.
func (n *neighbours) find(ifindex int, addr netip.Addr) *nextHop {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.hops[hopKey{ifindex, addr}]
}

// path returns the Ethernet path to h, or nil when the SYN must take the
// raw IP socket because h is not resolved: the first such SYN asks the
// kernel to resolve it (askedAt), later ones look at the neighbour table
// again, at most every neighbourRecheck.
func (n *neighbours) path(h *nextHop) *ethPath {
	if p := h.eth.Load(); p != nil {
		return p
	}
	now := n.now()
	switch a := h.askedAt.Load(); {
	case a == 0:
		if h.askedAt.CompareAndSwap(0, now) {
			n.waiting.Add(1)
		}
		return nil
	case now-a > int64(routeCacheTTL):
		// Asked long ago, by probes long finished: this SYN asks again,
		// and its probes get a bounded wait of their own.
		if h.askedAt.CompareAndSwap(a, now) {
			h.failed.Store(false)
		}
		return nil
	}
	n.recheck()
	return h.eth.Load()
}

// recheck lists the neighbour table again if a next hop waits to be
// resolved and the last listing is neighbourRecheck old.
func (n *neighbours) recheck() {
	if n.waiting.Load() == 0 {
		return
	}
	now := n.now()
	next := n.nextCheck.Load()
	if now < next || !n.nextCheck.CompareAndSwap(next, now+int64(neighbourRecheck)) {
		return
	}
	n.mu.Lock()
	n.listLocked(now)
	n.mu.Unlock()
}

// listLocked reads the kernel's neighbour table and updates every cached
// next hop from it.
func (n *neighbours) listLocked(now int64) error {
	list, err := n.h.NeighList(0, netlink.FAMILY_ALL)
	if err != nil {
		return &net.OpError{Op: "neighbour", Net: "netlink", Err: err}
	}
	clear(n.seen)
	for _, x := range list {
		a, ok := netip.AddrFromSlice(x.IP)
		if !ok {
			continue
		}
		var ne neighbourEntry
		ne.state = x.State
		if len(x.HardwareAddr) == 6 {
			copy(ne.mac[:], x.HardwareAddr)
		} else {
			ne.state &^= usableNeighbour // no Ethernet address to send to
		}
		n.seen[hopKey{x.LinkIndex, a.Unmap()}] = ne
	}
	n.listedAt = now
	for k, h := range n.hops {
		n.applyLocked(k, h, now)
	}
	return nil
}

// applyLocked updates h from the last listing, taken at n.listedAt.
func (n *neighbours) applyLocked(k hopKey, h *nextHop, now int64) {
	ne, ok := n.seen[k]
	if ok && ne.state&usableNeighbour != 0 {
		if p := h.eth.Load(); p == nil || [6]byte(p.header[0:6]) != ne.mac {
			h.eth.Store(newEthPath(ne.mac, h.own, k.ifindex, k.addr.Is6()))
		}
		if h.askedAt.Swap(0) != 0 {
			n.waiting.Add(-1)
		}
		h.failed.Store(false)
		return
	}
	if h.eth.Load() != nil {
		h.eth.Store(nil) // gone or no longer usable: the kernel resolves it again
	}
	// A FAILED entry counts only if it was listed after the kernel was
	// asked: a SYN to a failed neighbour has the kernel solicit it again.
	if a := h.askedAt.Load(); ok && ne.state&netlink.NUD_FAILED != 0 && a != 0 && a < n.listedAt {
		h.failed.Store(true)
	}
}

// trimLocked lists the neighbour table again and drops the on-link next
// hops that do not wait to be resolved or were asked for more than
// routeCacheTTL ago, so that the cache holds the destinations of the last
// routeCacheTTL.
func (n *neighbours) trimLocked(now int64) {
	for k, h := range n.hops {
		if h.gateway {
			continue
		}
		switch a := h.askedAt.Load(); {
		case a == 0:
			delete(n.hops, k)
		case now-a > int64(routeCacheTTL):
			delete(n.hops, k)
			n.waiting.Add(-1)
		}
	}
	n.listLocked(now)
	n.loadedAt = now
}

// close releases the netlink handle.
func (n *neighbours) close() { n.h.Close() }

// newEthPath returns the Ethernet path to MAC dst from MAC src on
// interface ifindex, for IPv6 packets if v6, else IPv4.
func newEthPath(dst, src [6]byte, ifindex int, v6 bool) *ethPath {
	p := &ethPath{}
	copy(p.header[0:6], dst[:])
	copy(p.header[6:12], src[:])
	etherType := uint16(unix.ETH_P_IP)
	if v6 {
		etherType = unix.ETH_P_IPV6
	}
	p.header[12], p.header[13] = byte(etherType>>8), byte(etherType)
	p.sa = unix.RawSockaddrLinklayer{Family: unix.AF_PACKET, Protocol: htons(etherType), Ifindex: int32(ifindex), Halen: 6}
	copy(p.sa.Addr[:], dst[:])
	return p
}

// nextHopUnresolved reports whether the next hop of a probe of dst via rt
// (its gateway, or dst itself on-link) stayed unresolved: see
// nextHop.unresolved. It only reads the cache.
func (e *engine) nextHopUnresolved(rt *route, dst netip.Addr, now int64) bool {
	// No next hop waits to be resolved (the common case): none can be
	// unresolved, and the cache's lock, held while the table is listed,
	// is not taken under the engine's.
	if !rt.ether || e.neigh.waiting.Load() <= 0 {
		return false
	}
	h := rt.hop
	if h == nil {
		if rt.gw.IsValid() {
			return false
		}
		if h = e.neigh.find(rt.ifindex, dst); h == nil {
			return false
		}
	}
	return h.unresolved(now, e.neigh.wait)
}

// ethPath returns the Ethernet path of a SYN to dst via rt, or nil when it
// takes the raw IP socket. It allocates nothing once the next hop is cached.
func (e *engine) ethPath(rt *route, dst netip.Addr) *ethPath {
	if !rt.ether {
		return nil
	}
	h := rt.hop
	if h == nil {
		if rt.gw.IsValid() {
			return nil // the cache was full when the route was built
		}
		if h = e.neigh.hop(rt.ifindex, rt.own, dst, false); h == nil {
			return nil
		}
	}
	return e.neigh.path(h)
}
