package rawcheck

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
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
	// SourcePortChunk is how many ports of the SourcePorts range one
	// engine reserves: the first aligned chunk of the range whose every
	// port is free. Several engines (processes) on one host so share the
	// range without sharing a port, each filtering replies to its own
	// chunk only; the default range holds 16 of them. A probe uses one
	// port per target in flight, so a chunk serves any number of distinct
	// targets and 64 probes of the same one at once.
	SourcePortChunk = 64
	// DefaultTimeout is the default per-attempt timeout.
	DefaultTimeout = time.Second
	// DefaultAttempts is the default number of SYNs sent to a target that
	// does not answer: the first and two retransmissions.
	DefaultAttempts = 3
	// MaxAttempts is the largest Attempts a Config may ask for.
	MaxAttempts = 255
	// DefaultWindow is the default bound on probes in flight in one Scan.
	DefaultWindow = 65536
	// MinSourcePort is the lowest source port Validate accepts without
	// ForceSourcePorts: the ports below it are the well-known ports of the
	// host's own services.
	MinSourcePort = 1024
)

// Config configures a Prober. The zero value is usable: every zero field
// takes the default named in its comment.
type Config struct {
	// SourcePorts is the inclusive range of TCP source ports the engine
	// draws its ports from; the zero value means
	// {DefaultSourcePortLow, DefaultSourcePortHigh}. The engine reserves
	// one wholly free chunk of SourcePortChunk ports of it (see
	// SourcePortChunk), else the free ports of the first chunk that has
	// any; New fails when every port of the range is in use. The range,
	// given or default, must not reach below MinSourcePort nor overlap the
	// kernel's ephemeral port range (net.ipv4.ip_local_port_range of the
	// network namespace New runs in), from which the host's own
	// connections take their ports.
	SourcePorts [2]uint16
	// ForceSourcePorts accepts a SourcePorts range below MinSourcePort or
	// overlapping the ephemeral port range.
	ForceSourcePorts bool
	// Interface, if set, forces every probe out of that interface; by
	// default the route to each target decides.
	Interface string
	// Rate limits the SYNs sent per second, retries included, with a token
	// bucket taken in batches; 0 means unlimited. Own RSTs (OwnRST) answer
	// SYN-ACKs at once and are not limited.
	Rate int
	// Timeout is the longest time one attempt waits for a reply, and the
	// time it waits before the engine has measured the RTT of the target's
	// prefix; 0 means DefaultTimeout. Once replies come, an attempt waits
	// the prefix's smoothed RTT plus four times its variation (RFC 6298),
	// doubled per retransmission, at least DefaultMinTimeout (or Timeout
	// if smaller) and at most Timeout.
	Timeout time.Duration
	// Attempts, if set, is the number of SYNs sent at most to a target
	// that does not answer, the first included: 1 sends one SYN and never
	// retransmits, 3 retransmits twice. 0 means adaptive: as many attempts
	// as keep the expected number of open ports missed below one, given
	// the loss measured so far, at least 2 and at most AttemptCeiling
	// (engines without loss estimates use DefaultAttempts). The setting
	// counts attempts rather than retries so that its zero value can mean
	// the default without taking a meaningful value: no probe makes zero
	// attempts, and no sentinel is needed for "no retransmission".
	Attempts int
	// AttemptCeiling is the most attempts adaptive timing (Attempts 0)
	// gives a target; 0 means DefaultAttemptCeiling. It is ignored when
	// Attempts is set.
	AttemptCeiling int
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
	// sequence number is CookieKey.Sequence(source, target, source port,
	// target port, nonce), the nonce a random number the engine draws
	// for each probe and keeps for its retransmissions, and only replies
	// that carry the pending probe's nonce under this key are matched. A
	// reply recorded from one probe therefore never answers a later probe
	// of the same addresses and ports. nil means a random key
	// (synack.NewCookieKey) per Prober. Setting it lets a capture be
	// replayed later (make pcaps records the key and the probe's nonce
	// beside each golden capture); keep it secret otherwise, since whoever
	// knows it and sees a SYN can forge replies to that probe.
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

// ConfigError reports a Config field New does not accept. Nothing was
// opened or sent. Callers that check settings before doing anything else
// (a command line) get it from Validate.
type ConfigError struct {
	// Field is the name of the Config field, e.g. "Rate".
	Field string
	// Value is the field's value as given.
	Value any
	// Want describes the values the field accepts.
	Want string
}

// Error names the field, its value and what it accepts.
func (e *ConfigError) Error() string {
	return fmt.Sprintf("rawcheck: bad Config.%s %v: want %s", e.Field, e.Value, e.Want)
}

// Validate reports the first field of c that New would not accept, as a
// *ConfigError, and nil when c is usable. It is the one place the ranges
// of Config's fields are checked; New calls it too. Unless
// ForceSourcePorts is set, it reads the ephemeral port range of the
// calling thread's network namespace (on Linux,
// /proc/sys/net/ipv4/ip_local_port_range), and refuses SourcePorts when
// that cannot be read.
func (c Config) Validate() error { return c.validate(ephemeralPorts) }

// validate is Validate with the source of the ephemeral port range given:
// ephemeral returns it, or an error wrapping errors.ErrUnsupported where
// the system has none to check against.
func (c Config) validate(ephemeral func() (lo, hi uint16, err error)) error {
	lo, hi := c.SourcePorts[0], c.SourcePorts[1]
	if (lo != 0 || hi != 0) && (lo == 0 || hi < lo) {
		return &ConfigError{"SourcePorts", fmt.Sprintf("%d-%d", lo, hi), "1 <= low <= high"}
	}
	if !c.ForceSourcePorts {
		if err := checkSourcePorts(c.WithDefaults().SourcePorts, ephemeral); err != nil {
			return err
		}
	}
	switch {
	case c.Rate < 0:
		return &ConfigError{"Rate", c.Rate, ">= 0 (0 = unlimited)"}
	case c.Timeout < 0:
		return &ConfigError{"Timeout", c.Timeout, ">= 0 (0 = default)"}
	case c.Attempts < 0:
		return &ConfigError{"Attempts", c.Attempts, ">= 1 (0 = default)"}
	case c.Attempts > MaxAttempts:
		return &ConfigError{"Attempts", c.Attempts, fmt.Sprintf("at most %d", MaxAttempts)}
	case c.AttemptCeiling < 0:
		return &ConfigError{"AttemptCeiling", c.AttemptCeiling, ">= 1 (0 = default)"}
	case c.AttemptCeiling > MaxAttempts:
		return &ConfigError{"AttemptCeiling", c.AttemptCeiling, fmt.Sprintf("at most %d", MaxAttempts)}
	case c.Window < 0:
		return &ConfigError{"Window", c.Window, ">= 0 (0 = default)"}
	}
	return nil
}

// checkSourcePorts refuses a source-port range that reaches below
// MinSourcePort or overlaps the ephemeral port range.
func checkSourcePorts(ports [2]uint16, ephemeral func() (lo, hi uint16, err error)) error {
	value := fmt.Sprintf("%d-%d", ports[0], ports[1])
	if ports[0] < MinSourcePort {
		return &ConfigError{"SourcePorts", value, fmt.Sprintf(
			"ports from %d up: the ports below are the host's services' (ForceSourcePorts accepts them)", MinSourcePort)}
	}
	elo, ehi, err := ephemeral()
	if errors.Is(err, errors.ErrUnsupported) {
		return nil
	}
	if err != nil {
		return &ConfigError{"SourcePorts", value, fmt.Sprintf(
			"a range checked against the kernel's ephemeral port range, which cannot be read: %v (ForceSourcePorts skips the check)", err)}
	}
	if ports[0] <= ehi && elo <= ports[1] {
		return &ConfigError{"SourcePorts", value, fmt.Sprintf(
			"a range outside the kernel's ephemeral port range %d-%d (net.ipv4.ip_local_port_range), "+
				"from which the host's own connections take their ports, while the engine holds every port of its range "+
				"(ForceSourcePorts accepts an overlap)", elo, ehi)}
	}
	return nil
}

// parsePortRange reads the contents of ip_local_port_range: two port
// numbers, low then high, separated by white space.
func parsePortRange(s string) (lo, hi uint16, err error) {
	f := strings.Fields(s)
	if len(f) != 2 {
		return 0, 0, fmt.Errorf("%q is not two port numbers", s)
	}
	l, err1 := strconv.ParseUint(f[0], 10, 16)
	h, err2 := strconv.ParseUint(f[1], 10, 16)
	if err1 != nil || err2 != nil || l == 0 || h < l {
		return 0, 0, fmt.Errorf("%q is not a port range low <= high", s)
	}
	return uint16(l), uint16(h), nil
}

// WithDefaults returns c with every zero field that has a default
// (SourcePorts, Timeout, Attempts, AttemptCeiling, Window) set to it; the
// engine reads Attempts 0 as adaptive before this fills it in. It is the one place
// those defaults are applied: New uses it, and so does any engine that
// takes its settings from a Config (rawprobe's connect engine).
func (c Config) WithDefaults() Config {
	if c.SourcePorts == [2]uint16{} {
		c.SourcePorts = [2]uint16{DefaultSourcePortLow, DefaultSourcePortHigh}
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.Attempts == 0 {
		c.Attempts = DefaultAttempts
	}
	if c.AttemptCeiling == 0 {
		c.AttemptCeiling = DefaultAttemptCeiling
	}
	if c.Window == 0 {
		c.Window = DefaultWindow
	}
	return c
}

// settings is a checked Config with the defaults filled in.
type settings struct {
	portLow, portHigh uint16
	iface             string
	rate              int
	timeout           time.Duration
	attempts          int  // fixed attempts when !adaptive
	adaptive          bool // Config.Attempts was 0
	attemptCeiling    int
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
	if err := c.Validate(); err != nil {
		return settings{}, err
	}
	d := c.WithDefaults()
	s := settings{
		portLow:  d.SourcePorts[0],
		portHigh: d.SourcePorts[1],
		iface:    d.Interface,
		rate:     d.Rate,
		timeout:  d.Timeout,
		attempts: d.Attempts,
		adaptive: c.Attempts == 0,
		window:   d.Window,
		ownRST:   d.OwnRST,
		tap:      d.Tap,
	}
	s.attemptCeiling = d.AttemptCeiling
	if c.CookieKey != nil {
		k := *c.CookieKey // a copy: later changes to the caller's key do not reach the engine
		s.key = &k
	}
	return s, nil
}
