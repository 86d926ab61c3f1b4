package output

import (
	"cmp"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/rawprobe/rawprobe/internal/cli/services"
	"github.com/rawprobe/rawprobe/rawcheck"
)

// NmapHeader describes a scan for the nmap-compatible writers (XMLWriter,
// GrepableWriter), which write it before the first host.
type NmapHeader struct {
	// Args is the command line, written as <nmaprun args> and after "as:"
	// in the "scan initiated" lines.
	Args string
	// Start is when the scan started; its location is the time zone of
	// the human-readable times, as nmap writes local time.
	Start time.Time
	// Version is written where nmap writes its own version (nmaprun's
	// version attribute, "# Nmap VERSION scan initiated"); "" writes
	// "rawprobe".
	Version string
	// Ports lists the probed ports in nmap's notation, e.g.
	// "22,80,8000-8100" (scaninfo's services attribute).
	Ports string
	// NumPorts is how many ports Ports names (scaninfo's numservices). When
	// every host is probed on all of them, it is also the number of
	// results that complete a host: a host is written as soon as it has
	// that many. 0 means unknown: hosts wait in the buffer.
	NumPorts int
	// MaxBuffered bounds the results held while grouping them by host;
	// 0 means DefaultMaxBuffered.
	MaxBuffered int
}

// NmapStats is what Close writes at the end of an nmap-compatible output.
type NmapStats struct {
	// End is when the scan finished.
	End time.Time
	// Hosts is the number of distinct addresses probed, written as the
	// hosts scanned and up. 0 writes the number of host records written,
	// which counts a host written in several records several times.
	Hosts uint64
	// Err, when not nil, is why the scan did not finish: written as
	// exit="error" with its text as errormsg instead of exit="success".
	Err error
}

// DefaultMaxBuffered is the number of results the nmap-compatible writers
// hold at most while grouping them by host (about 100 bytes each).
const DefaultMaxBuffered = 1 << 16

// nmapVersion returns the version written where nmap writes its own.
func (h *NmapHeader) nmapVersion() string {
	if h.Version == "" {
		return "rawprobe"
	}
	return h.Version
}

// NmapPortState returns the state and reason nmap's SYN scan gives a port
// with this result, in nmap's vocabulary:
//
//	Open                            open      syn-ack
//	Closed                          closed    reset
//	Timeout                         filtered  no-response
//	NoRoute (no SYN sent)           filtered  no-route
//	Unreachable, ICMP type 3        filtered  net-unreach (code 0), host-unreach (1),
//	                                          proto-unreach (2), port-unreach (3),
//	                                          net-prohibited (9), host-prohibited (10),
//	                                          admin-prohibited (13), dest-unreach (others)
//	Unreachable, ICMPv6 type 1      filtered  no-route (code 0), admin-prohibited (1, 5),
//	                                          beyond-scope (2), host-unreach (3),
//	                                          port-unreach (4), reject-route (6),
//	                                          dest-unreach (others)
//	Unreachable, ICMP type 11,      filtered  time-exceeded
//	ICMPv6 type 3
//	Unreachable, ICMPv6 type 4      filtered  param-problem
//
// A TCP SYN scan calls every ICMP error filtered, port-unreach included
// (only a UDP scan reads that as closed). NoRoute gets no-route, the
// reason nmap gives an ICMPv6 no-route-to-destination: nmap itself refuses
// to scan a host it has no route to, so it has no state of its own for
// this case, and filtered is what a scanner that sent nothing can say.
// An Unreachable of unknown type (ICMP type 0: the connect engine learns
// only an errno) gets dest-unreach, nmap's reason for an unreachable of
// unlisted code.
func NmapPortState(r rawcheck.Result) (state, reason string) {
	switch r.State {
	case rawcheck.Open:
		return "open", "syn-ack"
	case rawcheck.Closed:
		return "closed", "reset"
	case rawcheck.Timeout:
		return "filtered", "no-response"
	case rawcheck.NoRoute:
		return "filtered", "no-route"
	case rawcheck.Unreachable:
		if r.Target.Addr().Unmap().Is4() {
			return "filtered", icmpv4Reason(r.ICMPType, r.ICMPCode)
		}
		return "filtered", icmpv6Reason(r.ICMPType, r.ICMPCode)
	}
	return "unknown", "unknown-response"
}

func icmpv4Reason(typ, code uint8) string {
	switch typ {
	case 3: // destination unreachable
		switch code {
		case 0:
			return "net-unreach"
		case 1:
			return "host-unreach"
		case 2:
			return "proto-unreach"
		case 3:
			return "port-unreach"
		case 9:
			return "net-prohibited"
		case 10:
			return "host-prohibited"
		case 13:
			return "admin-prohibited"
		}
		return "dest-unreach"
	case 11:
		return "time-exceeded"
	}
	return "dest-unreach"
}

func icmpv6Reason(typ, code uint8) string {
	switch typ {
	case 1: // destination unreachable
		switch code {
		case 0:
			return "no-route"
		case 1, 5:
			return "admin-prohibited"
		case 2:
			return "beyond-scope"
		case 3:
			return "host-unreach"
		case 4:
			return "port-unreach"
		case 6:
			return "reject-route"
		}
		return "dest-unreach"
	case 3:
		return "time-exceeded"
	case 4:
		return "param-problem"
	}
	return "dest-unreach"
}

// serviceName is the service nmap's table would name for a TCP port.
func serviceName(port uint16) string { return services.Lookup(port, "tcp") }

// hostKey identifies a host record: nmap writes a host named twice (by
// address and by name) as two hosts, and ndiff tells hosts apart by
// address and name.
type hostKey struct {
	addr netip.Addr
	name string // the host name the user gave, "" for an address
}

func keyOf(r Record) hostKey {
	addr := r.Result.Target.Addr().Unmap()
	return hostKey{addr: addr, name: userHostName(r.Name, addr)}
}

// userHostName returns the host part of name ("host:port") unless it is
// just the address.
func userHostName(name string, addr netip.Addr) string {
	i := strings.LastIndexByte(name, ':')
	if i < 0 {
		return ""
	}
	host := strings.TrimSuffix(strings.TrimPrefix(name[:i], "["), "]")
	if a, err := netip.ParseAddr(host); err == nil && a.Unmap() == addr {
		return ""
	}
	return host
}

// hostGroup is the results of one host waiting to be written.
type hostGroup struct {
	key     hostKey
	records []Record
}

// hostGrouper gathers results by host, so that a writer can write a host
// with its ports in one record although results arrive in a random order.
// A host is written when it has perHost results; when max results are
// held, every host held is written, in address order, and a host whose
// other ports come later gets another record then. Close writes the rest.
// Memory is thus bounded by max results whatever the size of the scan, and
// a scan of one port per host holds none.
type hostGrouper struct {
	perHost int
	max     int
	held    int
	groups  map[hostKey]*hostGroup
	free    []*hostGroup
	order   []*hostGroup
	write   func(*hostGroup) error
}

// maxRecycledPorts is the largest array of results a free hostGroup
// keeps, so that the free groups hold little beside the buffer's bound.
const maxRecycledPorts = 64

func newHostGrouper(h NmapHeader, write func(*hostGroup) error) hostGrouper {
	limit := h.MaxBuffered
	if limit <= 0 {
		limit = DefaultMaxBuffered
	}
	return hostGrouper{perHost: h.NumPorts, max: limit, groups: make(map[hostKey]*hostGroup), write: write}
}

func (g *hostGrouper) add(r Record) error {
	k := keyOf(r)
	grp := g.groups[k]
	if grp == nil {
		if n := len(g.free); n > 0 {
			grp, g.free = g.free[n-1], g.free[:n-1]
		} else {
			grp = new(hostGroup)
		}
		grp.key = k
		g.groups[k] = grp
	}
	grp.records = append(grp.records, r)
	g.held++
	if g.perHost > 0 && len(grp.records) >= g.perHost {
		return g.emit(grp)
	}
	if g.held >= g.max {
		return g.flush()
	}
	return nil
}

// emit writes grp, its ports in ascending order, and recycles it.
func (g *hostGrouper) emit(grp *hostGroup) error {
	slices.SortFunc(grp.records, func(a, b Record) int {
		return cmp.Compare(a.Result.Target.Port(), b.Result.Target.Port())
	})
	err := g.write(grp)
	delete(g.groups, grp.key)
	g.held -= len(grp.records)
	if cap(grp.records) > maxRecycledPorts {
		grp.records = nil // a free group keeps no large array
	} else {
		clear(grp.records) // drop the names for the garbage collector
		grp.records = grp.records[:0]
	}
	g.free = append(g.free, grp)
	return err
}

// flush writes every host held, in address then name order.
func (g *hostGrouper) flush() error {
	g.order = g.order[:0]
	for _, grp := range g.groups {
		g.order = append(g.order, grp)
	}
	slices.SortFunc(g.order, func(a, b *hostGroup) int {
		if c := a.key.addr.Compare(b.key.addr); c != 0 {
			return c
		}
		return strings.Compare(a.key.name, b.key.name)
	})
	var first error
	for _, grp := range g.order {
		if err := g.emit(grp); err != nil && first == nil {
			first = err
		}
	}
	clear(g.order)
	return first
}

// timeSpan returns the earliest and latest result time of grp.
func (grp *hostGroup) timeSpan() (first, last time.Time) {
	for i, r := range grp.records {
		if i == 0 || r.Time.Before(first) {
			first = r.Time
		}
		if i == 0 || r.Time.After(last) {
			last = r.Time
		}
	}
	return first, last
}

// appendCtime appends t as C's ctime(3) formats it, as nmap writes times.
func appendCtime(b []byte, t time.Time) []byte { return t.AppendFormat(b, time.ANSIC) }

// appendElapsed appends the seconds from start to end with two decimals.
func appendElapsed(b []byte, start, end time.Time) []byte {
	return strconv.AppendFloat(b, max(end.Sub(start), 0).Seconds(), 'f', 2, 64)
}

// appendDoneSummary appends nmap's closing summary, "1 IP address (1 host
// up) scanned in 0.04 seconds", every host probed counting as up as with
// nmap -Pn.
func appendDoneSummary(b []byte, hosts uint64, start, end time.Time) []byte {
	b = strconv.AppendUint(b, hosts, 10)
	b = append(b, " IP address"...)
	if hosts != 1 {
		b = append(b, "es"...)
	}
	b = append(b, " ("...)
	b = strconv.AppendUint(b, hosts, 10)
	b = append(b, " host"...)
	if hosts != 1 {
		b = append(b, 's')
	}
	b = append(b, " up) scanned in "...)
	b = appendElapsed(b, start, end)
	return append(b, " seconds"...)
}

// appendPrintable appends s with control characters and invalid UTF-8
// replaced by '?', so that a name cannot break a line-oriented output.
func appendPrintable(b []byte, s string) []byte {
	for _, c := range s {
		if c < 0x20 || c == 0x7f || c == utf8.RuneError {
			b = append(b, '?')
			continue
		}
		b = utf8.AppendRune(b, c)
	}
	return b
}
