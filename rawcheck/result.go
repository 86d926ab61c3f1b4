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
	// quoting our SYN arrived.
	Unreachable
)

// String returns the lower-case name used in rawprobe's output: "open",
// "closed", "timeout" or "unreachable".
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
	}
	return "unknown"
}

// Result is the outcome of probing one target.
type Result struct {
	// Target is the address and port probed.
	Target netip.AddrPort
	// State is what the probe found.
	State State
	// ICMPType and ICMPCode are set when State is Unreachable.
	ICMPType, ICMPCode uint8
	// RTT is the time from the send of the answered attempt to its reply;
	// zero on Timeout.
	RTT time.Duration
	// Attempts is the number of SYNs sent for this target.
	Attempts int
	// TTL is the IPv4 TTL or IPv6 hop limit of the reply; zero on Timeout.
	TTL uint8
}
