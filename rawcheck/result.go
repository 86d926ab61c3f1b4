package rawcheck

import (
	"net/netip"
	"time"
)

// State is the outcome of probing one target.
type State uint8

// The states a probe can end in.
const (
	// Timeout means no valid reply arrived within the attempts allowed.
	Timeout State = iota
	// Open means the target answered a SYN with SYN-ACK.
	Open
	// Closed means the target answered a SYN with RST.
	Closed
	// Unreachable means an ICMP or ICMPv6 destination-unreachable error
	// quoting our SYN arrived, or (ICMPType and ICMPCode zero) the next
	// hop on an Ethernet link, the gateway or the on-link target, was
	// never resolved (ARP, NDP) although the kernel was asked: the SYNs
	// counted in Attempts were handed to the kernel, which held them
	// while it solicited the neighbour and then dropped them, so none
	// reached the link.
	Unreachable
	// NoRoute means the prober itself could not send the target a SYN, so
	// none was sent: Attempts, RTT, TTL, ICMPType and ICMPCode are zero.
	// Either it has no route to the target, or (in a Scan) its kernel
	// refused the first SYN: a local broadcast address, a prohibit route,
	// a firewall rule on output (see Stats.SendErrors).
	NoRoute
)

// String returns the lower-case name used in rawprobe's output: "open",
// "closed", "timeout", "unreachable" or "noroute".
func (s State) String() string {
	switch s {
	case Open:
		return "open"
	case Closed:
		return "closed"
	case Timeout:
		return "timeout"
	case Unreachable:
		return "unreachable"
	case NoRoute:
		return "noroute"
	}
	return "unknown"
}

// Result is the outcome of probing one target.
type Result struct {
	// Target is the address and port probed.
	Target netip.AddrPort
	// State is what the probe found.
	State State
	// ICMPType and ICMPCode are the type and code of the ICMP or ICMPv6
	// error when State is Unreachable because of one, and zero otherwise.
	ICMPType, ICMPCode uint8
	// RTT is the time from the send of the answered attempt to its reply;
	// zero on Timeout and NoRoute.
	RTT time.Duration
	// Attempts is the number of SYNs the engine sent (handed to the
	// kernel, which took them: not those it refused) for this target; see
	// Unreachable.
	Attempts int
	// TTL is the IPv4 TTL or IPv6 hop limit of the reply; zero on Timeout
	// and NoRoute.
	TTL uint8
}
