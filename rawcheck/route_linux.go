package rawcheck

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/rawprobe/rawprobe/synack"
)

// route is how probes to some targets leave: source address, interface,
// SYN template and, where the link has Ethernet framing, the interface's
// MAC and the gateway's next hop (on-link targets are each their own next
// hop): SYNs to a resolved next hop leave as Ethernet frames on the
// AF_PACKET socket, the others on the raw IP socket. Routes are never freed
// while the engine lives; pending probes name them by id.
type route struct {
	id      uint32
	src     netip.Addr
	ifindex int
	tmpl    *synack.Template
	gw      netip.Addr // invalid for on-link targets
	ether   bool       // the link has Ethernet framing
	own     [6]byte    // the interface's MAC, if ether
	hop     *nextHop   // gw's, if ether and the neighbour cache had room
}

// tablePrefix is one destination prefix of the main or local routing table.
type tablePrefix struct {
	prefix netip.Prefix
	local  bool // from the local table, which the kernel consults first
	leaf   bool // no other prefix of the table lies inside it
}

// routeCacheTTL is how long the routing tables and the routes resolved from
// them are trusted.
var routeCacheTTL = 10 * time.Second // a variable for tests

// router finds the route to a target: the longest matching prefix of the
// main and local routing tables says which cache entry applies, and the
// first target under each prefix is resolved by the kernel (RTM_GETROUTE),
// so a scan of a /16 costs one netlink round trip, not 65,536.
// Policy routing that splits one table prefix between interfaces is not
// seen: the first target's answer is used for the whole prefix.
type router struct {
	h     *netlink.Handle
	oif   string
	build func(src netip.Addr, ifindex int, gw netip.Addr) (*route, error)

	ttl      time.Duration // routeCacheTTL when made
	mu       sync.Mutex
	table    []tablePrefix // longest first, local before main
	loadedAt time.Time
	cache    map[netip.Prefix]routeOrErr
	lastPfx  netip.Prefix // fast path: addresses whose answer is lastRt
	lastRt   routeOrErr
}

type routeOrErr struct {
	rt  *route
	err error
}

// newRouter returns a router using netlink handle h (which it closes).
func newRouter(h *netlink.Handle, oif string, build func(netip.Addr, int, netip.Addr) (*route, error)) (*router, error) {
	r := &router{h: h, oif: oif, build: build, ttl: routeCacheTTL, cache: make(map[netip.Prefix]routeOrErr)}
	if err := r.load(); err != nil {
		return nil, err
	}
	return r, nil
}

// load reads the main and local routing tables of both families.
func (r *router) load() error {
	routes, err := r.h.RouteListFiltered(netlink.FAMILY_ALL, &netlink.Route{Table: unix.RT_TABLE_UNSPEC}, netlink.RT_FILTER_TABLE)
	if err != nil {
		return &net.OpError{Op: "route", Net: "netlink", Err: err}
	}
	var t []tablePrefix
	for _, rt := range routes {
		if rt.Table != unix.RT_TABLE_MAIN && rt.Table != unix.RT_TABLE_LOCAL {
			continue
		}
		var p netip.Prefix
		if rt.Dst == nil { // default route
			if rt.Family == netlink.FAMILY_V6 {
				p = netip.PrefixFrom(netip.IPv6Unspecified(), 0)
			} else {
				p = netip.PrefixFrom(netip.IPv4Unspecified(), 0)
			}
		} else {
			a, ok := netip.AddrFromSlice(rt.Dst.IP)
			if !ok {
				continue
			}
			ones, _ := rt.Dst.Mask.Size()
			p = netip.PrefixFrom(a.Unmap(), ones).Masked()
		}
		t = append(t, tablePrefix{prefix: p, local: rt.Table == unix.RT_TABLE_LOCAL})
	}
	slices.SortStableFunc(t, func(a, b tablePrefix) int {
		if a.prefix.Bits() != b.prefix.Bits() {
			return b.prefix.Bits() - a.prefix.Bits()
		}
		if a.local != b.local {
			if a.local {
				return -1
			}
			return 1
		}
		return 0
	})
	for i := range t {
		t[i].leaf = true
		for j := range t {
			if t[j].prefix.Bits() > t[i].prefix.Bits() && t[i].prefix.Contains(t[j].prefix.Addr()) {
				t[i].leaf = false
				break
			}
		}
	}
	r.table = t
	r.loadedAt = time.Now()
	return nil
}

// lookup returns the route to dst.
func (r *router) lookup(dst netip.Addr) (*route, error) {
	rt, _, err := r.lookupPrefix(dst)
	return rt, err
}

// lookupPrefix returns the route to dst and a prefix around dst the answer
// holds for, every address under it having the same route until the tables
// are read again (invalid when the answer is for dst alone).
func (r *router) lookupPrefix(dst netip.Addr) (*route, netip.Prefix, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if time.Since(r.loadedAt) > r.ttl {
		// Routes and addresses change (DHCP, links going up and down): a
		// long-lived engine resolves again from time to time.
		if err := r.load(); err != nil {
			return nil, netip.Prefix{}, err
		}
		clear(r.cache)
		r.lastPfx = netip.Prefix{}
	}
	if r.lastPfx.IsValid() && r.lastPfx.Contains(dst) {
		return r.lastRt.rt, r.lastPfx, r.lastRt.err
	}
	p, leaf := r.match(dst)
	if !p.IsValid() && time.Since(r.loadedAt) > time.Second {
		if err := r.load(); err != nil {
			return nil, netip.Prefix{}, err
		}
		p, leaf = r.match(dst)
	}
	alone := !p.IsValid()
	if alone {
		p = netip.PrefixFrom(dst, dst.BitLen()) // resolve this address alone
		leaf = true
	}
	re, ok := r.cache[p]
	if !ok {
		re.rt, re.err = r.resolve(dst)
		// An address under no table prefix is resolved alone; its
		// no-route answer is not kept, so that a scan of many addresses
		// without a route does not grow the cache by one entry each.
		if !alone || !isNoRoute(re.err) {
			r.cache[p] = re
		}
	}
	// Nor is it the fast path's answer: a route added since is found once
	// the tables are read again.
	if !alone || !isNoRoute(re.err) {
		if !leaf {
			p = r.span(dst, p)
		}
		r.lastPfx, r.lastRt = p, re
		return re.rt, p, re.err
	}
	return re.rt, netip.Prefix{}, re.err
}

// match returns the longest table prefix containing dst.
func (r *router) match(dst netip.Addr) (netip.Prefix, bool) {
	for _, t := range r.table {
		if t.prefix.Contains(dst) {
			return t.prefix, t.leaf
		}
	}
	return netip.Prefix{}, false
}

// span returns the largest prefix around dst inside p, dst's longest
// matching table prefix, that holds no longer table prefix: p is the
// longest match of every address in it. (A table prefix longer than p
// that overlaps it lies inside it, or it would be dst's longest match.)
// A prefix with others inside it, such as a subnet holding its local
// broadcast address, so still gets a fast path for most of its addresses.
func (r *router) span(dst netip.Addr, p netip.Prefix) netip.Prefix {
	best := netip.PrefixFrom(dst, dst.BitLen())
	for b := dst.BitLen() - 1; b >= p.Bits(); b-- {
		q := netip.PrefixFrom(dst, b).Masked()
		for _, t := range r.table {
			if t.prefix.Bits() > p.Bits() && q.Overlaps(t.prefix) {
				return best
			}
		}
		best = q
	}
	return best
}

// resolve asks the kernel for the route to dst.
func (r *router) resolve(dst netip.Addr) (*route, error) {
	var opts *netlink.RouteGetOptions
	if r.oif != "" {
		opts = &netlink.RouteGetOptions{Oif: r.oif}
	}
	rs, err := r.h.RouteGetWithOptions(net.IP(dst.AsSlice()), opts)
	if errors.Is(err, unix.ENETUNREACH) || errors.Is(err, unix.EHOSTUNREACH) {
		return nil, &noRouteError{dst: dst, err: err}
	}
	if err != nil {
		return nil, fmt.Errorf("rawcheck: looking up the route to %v: %w", dst, err)
	}
	if len(rs) == 0 {
		return nil, &noRouteError{dst: dst}
	}
	src, ok := netip.AddrFromSlice(rs[0].Src)
	if !ok {
		return nil, fmt.Errorf("rawcheck: the route to %v has no source address", dst)
	}
	var gw netip.Addr
	if a, ok := netip.AddrFromSlice(rs[0].Gw); ok {
		gw = a.Unmap()
	}
	return r.build(src.Unmap(), rs[0].LinkIndex, gw)
}

// noRouteError says that the kernel has no route to an address: the
// engine then gives the target a NoRoute Result without sending anything,
// instead of failing.
type noRouteError struct {
	dst netip.Addr
	err error // the kernel's answer, if any
}

func (e *noRouteError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("rawcheck: no route to %v", e.dst)
	}
	return fmt.Sprintf("rawcheck: no route to %v: %v", e.dst, e.err)
}

func (e *noRouteError) Unwrap() error { return e.err }

// isNoRoute reports whether err is a noRouteError.
func isNoRoute(err error) bool {
	if err == nil {
		return false // the common case, without errors.As's allocation
	}
	var nr *noRouteError
	return errors.As(err, &nr)
}

// close releases the netlink handle.
func (r *router) close() { r.h.Close() }
