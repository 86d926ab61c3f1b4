// Package record records the golden captures of testdata/pcaps in an
// internal/verify/netlab network: `make pcaps` (internal/devtools/mkpcaps) writes
// them with it and the live tests of internal/verify/golden record the same
// scenarios again to compare their flag sequences with the golden ones.
package record

import (
	"net/netip"

	"github.com/rawprobe/rawprobe/internal/verify/golden"
	"github.com/rawprobe/rawprobe/internal/verify/netlab"
	"github.com/rawprobe/rawprobe/internal/verify/pcapcheck"
)

// OpenPort is the port the target's listener must listen on (for every
// address of the answering prefixes) before Record runs; every other port
// there is closed.
const OpenPort = 80

// closedPort is a port with no listener.
const closedPort = 81

// Def defines one scenario: how to probe and what must come of it.
type Def struct {
	// Name and Description become the scenario's Name and Description.
	Name, Description string
	// Engine is what sends the probe.
	Engine golden.Engine
	// Target picks the target in the network's prefixes.
	Target func(p Prefixes) netip.AddrPort
	// SourcePort is the raw prober's only source port (raw only).
	SourcePort uint16
	// SYNs is how many attempts the raw prober (rawcheck) makes, 300 ms
	// apart: identical SYNs, retransmitted while no reply validates.
	SYNs int
	// Forge makes the target namespace send a SYN-ACK to the probe's
	// source port that does not acknowledge its SYN (raw only).
	Forge bool
	// Expected is the scenario as it must be recorded: State, Reply,
	// Valid, SYNs, Accepted, PcapCheck and Match are checked against
	// the recording; Flags, when not empty, must be the recorded flag
	// sequence (exactly, or as its start for Match "prefix").
	Expected golden.Scenario
}

// Prefixes are the parts of a test network a Def's Target picks from.
type Prefixes struct {
	Answering4, Answering6, Silent4, Unreachable4, Unreachable6 netip.Prefix
}

func target(p netip.Prefix, i int, port uint16) netip.AddrPort {
	return netip.AddrPortFrom(netlab.Nth(p, i), port)
}

// Defs returns the scenarios of testdata/pcaps.
func Defs() []Def {
	exp := func(state golden.State, reply pcapcheck.Reply, valid bool, syns, accepted int, verdict, flags, match string) golden.Scenario {
		return golden.Scenario{State: state, Reply: reply, Valid: valid, SYNs: syns, Accepted: accepted, PcapCheck: verdict, Flags: flags, Match: match}
	}
	return []Def{
		{
			Name:        "ipv4-open",
			Description: "IPv4 open port: SYN, SYN-ACK, and the prober kernel's RST; never an ACK",
			Engine:      golden.EngineRaw, SourcePort: 61001, SYNs: 1,
			Target:   func(p Prefixes) netip.AddrPort { return target(p.Answering4, 1, OpenPort) },
			Expected: exp(golden.StateOpen, pcapcheck.SYNACK, true, 1, 0, "pass", ">S <SA >R", "exact"),
		},
		{
			Name:        "ipv4-closed",
			Description: "IPv4 closed port: SYN answered by RST+ACK",
			Engine:      golden.EngineRaw, SourcePort: 61002, SYNs: 1,
			Target:   func(p Prefixes) netip.AddrPort { return target(p.Answering4, 2, closedPort) },
			Expected: exp(golden.StateClosed, pcapcheck.RST, true, 1, 0, "pass", ">S <RA", "exact"),
		},
		{
			Name:        "ipv4-timeout",
			Description: "IPv4 silent address: three identical SYNs (the first and two retransmits), no reply",
			Engine:      golden.EngineRaw, SourcePort: 61003, SYNs: 3,
			Target:   func(p Prefixes) netip.AddrPort { return target(p.Silent4, 1, OpenPort) },
			Expected: exp(golden.StateTimeout, pcapcheck.NoReply, false, 3, 0, "pass", ">S >S >S", "exact"),
		},
		{
			Name:        "ipv4-unreachable",
			Description: "IPv4 unreachable address: SYN answered by ICMP host unreachable quoting it",
			Engine:      golden.EngineRaw, SourcePort: 61004, SYNs: 1,
			Target:   func(p Prefixes) netip.AddrPort { return target(p.Unreachable4, 1, OpenPort) },
			Expected: exp(golden.StateUnreachable, pcapcheck.ICMP, true, 1, 0, "pass", ">S <ICMPv4:3/1", "exact"),
		},
		{
			Name:        "ipv6-open",
			Description: "IPv6 open port: SYN, SYN-ACK, and the prober kernel's RST; never an ACK",
			Engine:      golden.EngineRaw, SourcePort: 61005, SYNs: 1,
			Target:   func(p Prefixes) netip.AddrPort { return target(p.Answering6, 1, OpenPort) },
			Expected: exp(golden.StateOpen, pcapcheck.SYNACK, true, 1, 0, "pass", ">S <SA >R", "exact"),
		},
		{
			Name:        "ipv6-closed",
			Description: "IPv6 closed port: SYN answered by RST+ACK",
			Engine:      golden.EngineRaw, SourcePort: 61006, SYNs: 1,
			Target:   func(p Prefixes) netip.AddrPort { return target(p.Answering6, 2, closedPort) },
			Expected: exp(golden.StateClosed, pcapcheck.RST, true, 1, 0, "pass", ">S <RA", "exact"),
		},
		{
			Name:        "forged-synack",
			Description: "SYN to a silent address, then a forged SYN-ACK from it whose ack is not the cookie+1: the reply is rejected and the probe times out",
			Engine:      golden.EngineRaw, SourcePort: 61007, SYNs: 1, Forge: true,
			Target:   func(p Prefixes) netip.AddrPort { return target(p.Silent4, 2, OpenPort) },
			Expected: exp(golden.StateTimeout, pcapcheck.SYNACK, false, 1, 0, "pass", ">S <SA >R", "exact"),
		},
		{
			Name:        "compat-open",
			Description: "compat (epoll) Checker on an open IPv4 port: the kernel's SYN, SYN-ACK, then RST from the zero-linger close; no ACK",
			Engine:      golden.EngineCompat,
			Target:      func(p Prefixes) netip.AddrPort { return target(p.Answering4, 3, OpenPort) },
			Expected:    exp(golden.StateOpen, pcapcheck.SYNACK, true, 1, 0, "pass", "", "exact"),
		},
		{
			Name:        "dial-handshake",
			Description: "negative case: net.Dial then Close completes the handshake (ACK) and the target accepts the connection",
			Engine:      golden.EngineDial,
			Target:      func(p Prefixes) netip.AddrPort { return target(p.Answering4, 4, OpenPort) },
			Expected:    exp(golden.StateOpen, pcapcheck.SYNACK, true, 1, 1, "fail", ">S <SA >A", "prefix"),
		},
	}
}

// PrefixesOf returns the prefixes of n that Defs pick targets from.
func PrefixesOf(n *netlab.Net) Prefixes {
	return Prefixes{n.Answering4, n.Answering6, n.Silent4, n.Unreachable4, n.Unreachable6}
}
