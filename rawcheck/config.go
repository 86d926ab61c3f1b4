package rawcheck

import (
	"fmt"
	"time"

	"github.com/rawprobe/rawprobe/synack"
)

// Defaults used for zero fields of Config.
const (
	// DefaultSourcePortLow and DefaultSourcePortHigh bound the default
	// source-port range, just above Linux's default ephemeral range
	// (32768-60999), so that the engine and ordinary connections do not
	// compete for ports.
	DefaultSourcePortLow  = 61000
	DefaultSourcePortHigh = 61999
	// DefaultTimeout is the default per-attempt timeout.
	DefaultTimeout = time.Second
	// DefaultRetries is the default number of extra attempts.
	DefaultRetries = 2
	// DefaultWindow is the default bound on probes in flight in one Scan.
	DefaultWindow = 65536
)

// Config configures a Prober. The zero value is usable: every zero field
// takes the default named in its comment.
type Config struct {
	// SourcePorts is the inclusive range of TCP source ports the engine
	// owns and reserves; the zero value means
	// {DefaultSourcePortLow, DefaultSourcePortHigh}. Ports of the range
	// that are already in use are skipped.
	SourcePorts [2]uint16
	// Interface, if set, forces every probe out of that interface; by
	// default the route to each target decides.
	Interface string
	// Rate limits the SYNs sent per second, retries included, with a token
	// bucket taken in batches; 0 means unlimited. Own RSTs (OwnRST) answer
	// SYN-ACKs at once and are not limited.
	Rate int
	// Timeout is the time one attempt waits for a reply; 0 means
	// DefaultTimeout.
	Timeout time.Duration
	// Retries is the number of extra SYNs sent to a target still pending
	// when an attempt times out; 0 means DefaultRetries and a negative value
	// means none.
	Retries int
	// Window bounds the probes in flight in one Scan; 0 means
	// DefaultWindow.
	Window int
	// OwnRST makes the engine answer each SYN-ACK with its own RST, for
	// hosts whose firewall drops the kernel's. The kernel's RST is then
	// suppressed (the source ports are reserved by listening sockets that
	// silently discard every segment), so exactly one RST per SYN-ACK still
	// leaves.
	OwnRST bool
	// Tap, if set, sees every packet the engine sends and receives.
	Tap PacketTap
	// CookieKey, if set, is the key of the SYN cookies: each SYN's
	// sequence number is CookieKey.Cookie(source, target, source port,
	// target port), and only replies that validate against it are
	// matched. nil means a random key (synack.NewCookieKey) per Prober.
	// Setting it lets a capture be replayed later (make pcaps records
	// the key beside each golden capture); keep it secret otherwise, since
	// whoever knows it can forge replies the engine accepts.
	CookieKey *synack.CookieKey
}

// PacketTap receives a copy of every packet the engine sends and receives,
// for example to write a pcap file. Packet is called synchronously from the
// engine's send and receive goroutines, possibly several at once, so it must
// be safe for concurrent use and quick; frame is only valid during the call.
// Frames sent and received start at the IP header (synack.LinkIP).
type PacketTap interface {
	// Packet is called once per packet: ts is when it was sent or
	// received, link says where the frame starts and sent whether the
	// engine sent it.
	Packet(ts time.Time, frame []byte, link synack.LinkType, sent bool)
}

// settings is a checked Config with the defaults filled in.
type settings struct {
	portLow, portHigh uint16
	iface             string
	rate              int
	timeout           time.Duration
	attempts          int // 1 + retries
	window            int
	ownRST            bool
	tap               PacketTap
	key               *synack.CookieKey // nil: random per engine
	// keepKernelRST (tests only) reserves the ports without the listening
	// drop-all sockets even with ownRST, so that two RSTs leave per SYN-ACK:
	// the negative control of the capture check.
	keepKernelRST bool
}

// check validates c and fills in the defaults.
func (c Config) check() (settings, error) {
	s := settings{
		portLow:  c.SourcePorts[0],
		portHigh: c.SourcePorts[1],
		iface:    c.Interface,
		rate:     c.Rate,
		timeout:  c.Timeout,
		attempts: 1 + c.Retries,
		window:   c.Window,
		ownRST:   c.OwnRST,
		tap:      c.Tap,
	}
	if c.CookieKey != nil {
		k := *c.CookieKey // a copy: later changes to the caller's key do not reach the engine
		s.key = &k
	}
	if s.portLow == 0 && s.portHigh == 0 {
		s.portLow, s.portHigh = DefaultSourcePortLow, DefaultSourcePortHigh
	}
	if s.portLow == 0 || s.portHigh < s.portLow {
		return s, fmt.Errorf("rawcheck: bad Config.SourcePorts %d-%d: want 1 <= low <= high", c.SourcePorts[0], c.SourcePorts[1])
	}
	if s.rate < 0 {
		return s, fmt.Errorf("rawcheck: bad Config.Rate %d: want >= 0 (0 = unlimited)", c.Rate)
	}
	if s.timeout < 0 {
		return s, fmt.Errorf("rawcheck: bad Config.Timeout %v: want >= 0 (0 = default %v)", c.Timeout, DefaultTimeout)
	}
	if s.timeout == 0 {
		s.timeout = DefaultTimeout
	}
	switch {
	case c.Retries == 0:
		s.attempts = 1 + DefaultRetries
	case c.Retries < 0:
		s.attempts = 1
	case c.Retries > 254:
		return s, fmt.Errorf("rawcheck: bad Config.Retries %d: want at most 254", c.Retries)
	}
	if s.window < 0 {
		return s, fmt.Errorf("rawcheck: bad Config.Window %d: want >= 0 (0 = default %d)", c.Window, DefaultWindow)
	}
	if s.window == 0 {
		s.window = DefaultWindow
	}
	return s, nil
}
