package golden

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/rawprobe/rawprobe/internal/verify/pcapcheck"
	"github.com/rawprobe/rawprobe/synack"
)

// Engine names what sent a scenario's probe.
type Engine string

// The engines a scenario's probe was sent by.
const (
	// EngineRaw: rawcheck's Prober (Probe) with the scenario's cookie key
	// as its Config.CookieKey; the prober's kernel answers a SYN-ACK with
	// RST.
	EngineRaw Engine = "raw"
	// EngineCompat: a compat (epoll) Checker's CheckAddr.
	EngineCompat Engine = "compat"
	// EngineDial: net.Dial then Close, a full handshake (the negative case).
	EngineDial Engine = "dial"
)

// parseEngine returns the engine called name.
func parseEngine(name string) (Engine, error) {
	switch e := Engine(name); e {
	case EngineRaw, EngineCompat, EngineDial:
		return e, nil
	}
	return "", fmt.Errorf("unknown engine %q (want raw, compat or dial)", name)
}

// State is the result a prober must report for a scenario's flow. Its
// values and names are those of rawcheck.State (rawcheck.State(s) converts
// it); golden cannot use rawcheck.State itself because rawcheck's own
// tests replay the golden scenarios. A test keeps the two in step.
type State uint8

// The states a scenario can expect, numbered as rawcheck's.
const (
	// StateTimeout: no valid reply (rawcheck.Timeout).
	StateTimeout State = iota
	// StateOpen: a valid SYN-ACK (rawcheck.Open).
	StateOpen
	// StateClosed: a valid RST (rawcheck.Closed).
	StateClosed
	// StateUnreachable: a valid ICMP or ICMPv6 destination unreachable
	// (rawcheck.Unreachable).
	StateUnreachable
)

// states are the states a scenario file may name, in order.
var states = []State{StateTimeout, StateOpen, StateClosed, StateUnreachable}

// String returns the state's name in scenario files and in rawprobe's
// output: "timeout", "open", "closed" or "unreachable".
func (s State) String() string {
	switch s {
	case StateTimeout:
		return "timeout"
	case StateOpen:
		return "open"
	case StateClosed:
		return "closed"
	case StateUnreachable:
		return "unreachable"
	}
	return fmt.Sprintf("State(%d)", uint8(s))
}

// ParseState returns the state called name.
func ParseState(name string) (State, error) {
	for _, s := range states {
		if s.String() == name {
			return s, nil
		}
	}
	return 0, fmt.Errorf("unknown state %q (want timeout, open, closed or unreachable)", name)
}

// ParseReply returns the pcapcheck.Reply called name ("syn-ack", "rst",
// "icmp" or "none", as Reply.String spells them).
func ParseReply(name string) (pcapcheck.Reply, error) {
	for _, r := range []pcapcheck.Reply{pcapcheck.NoReply, pcapcheck.SYNACK, pcapcheck.RST, pcapcheck.ICMP} {
		if r.String() == name {
			return r, nil
		}
	}
	return 0, fmt.Errorf("unknown reply %q (want syn-ack, rst, icmp or none)", name)
}

// Scenario is what the replay of one capture needs: the contents of
// <Name>.txt beside <Name>.pcap.
type Scenario struct {
	// Name is the file stem shared by the .pcap and the .txt.
	Name string
	// Description says what the capture shows, in one line.
	Description string
	// Engine is what sent the probe.
	Engine Engine
	// Key is the cookie key the SYNs' sequence numbers were made with;
	// HasKey is false for the kernel-made SYNs of compat and dial.
	Key    synack.CookieKey
	HasKey bool
	// Nonce is the probe's nonce (synack.CookieKey.Sequence): its SYNs'
	// sequence number is Key's cookie XOR Nonce. The "nonce" line is
	// optional; captures made before SYNs carried a nonce have none,
	// which is 0.
	Nonce uint32
	// Prober and Target are the flow the scenario is about.
	Prober, Target netip.AddrPort
	// State is the result a prober must report.
	State State
	// Reply is how pcapcheck classifies the flow.
	Reply pcapcheck.Reply
	// Valid says whether the flow's reply answers the SYN (its cookie
	// validates); false for a forged reply or when there is none.
	Valid bool
	// SYNs is the number of SYNs the prober sent, retransmissions included.
	SYNs int
	// Accepted is the number of connections the target application
	// accepted.
	Accepted int
	// PcapCheck is "pass" when pcapcheck finds no violation, else "fail".
	PcapCheck string
	// Flags is the golden flag sequence of the flow (see FlagSequence);
	// Match is "exact" when the flow's sequence must equal it, or "prefix"
	// when only the start of the flow is deterministic and Flags is that
	// start.
	Flags string
	Match string
}

// PcapPath returns the capture's path in dir.
func (s *Scenario) PcapPath(dir string) string { return filepath.Join(dir, s.Name+".pcap") }

// Marshal returns the key=value text of s.
func (s *Scenario) Marshal() []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "# %s\n", s.Description)
	fmt.Fprintf(&b, "# written by `make pcaps` (internal/devtools/mkpcaps); read by internal/verify/golden\n")
	kv := func(k string, v any) { fmt.Fprintf(&b, "%s=%v\n", k, v) }
	kv("name", s.Name)
	kv("description", s.Description)
	kv("engine", s.Engine)
	if s.HasKey {
		kv("cookie_k0", fmt.Sprintf("%#016x", s.Key.K0))
		kv("cookie_k1", fmt.Sprintf("%#016x", s.Key.K1))
		if s.Nonce != 0 {
			kv("nonce", fmt.Sprintf("%#08x", s.Nonce))
		}
	}
	kv("prober", s.Prober)
	kv("target", s.Target)
	kv("state", s.State)
	kv("reply", s.Reply)
	kv("valid", s.Valid)
	kv("syns", s.SYNs)
	kv("accepted", s.Accepted)
	kv("pcapcheck", s.PcapCheck)
	kv("flags", s.Flags)
	kv("match", s.Match)
	return b.Bytes()
}

// Unmarshal parses the key=value text of a scenario; every key is
// required except the cookie key, which only raw scenarios have.
func Unmarshal(text []byte) (Scenario, error) {
	var s Scenario
	seen := make(map[string]bool)
	sc := bufio.NewScanner(bytes.NewReader(text))
	line := 0
	for sc.Scan() {
		line++
		l := strings.TrimSpace(sc.Text())
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		k, v, ok := strings.Cut(l, "=")
		if !ok {
			return s, fmt.Errorf("line %d: %q is not key=value", line, l)
		}
		if seen[k] {
			return s, fmt.Errorf("line %d: key %q repeated", line, k)
		}
		seen[k] = true
		if err := s.set(k, v); err != nil {
			return s, fmt.Errorf("line %d: %s: %w", line, k, err)
		}
	}
	if err := sc.Err(); err != nil {
		return s, err
	}
	for _, k := range []string{"name", "description", "engine", "prober", "target", "state", "reply", "valid", "syns", "accepted", "pcapcheck", "flags", "match"} {
		if !seen[k] {
			return s, fmt.Errorf("key %q missing", k)
		}
	}
	if seen["cookie_k0"] != seen["cookie_k1"] {
		return s, errors.New("cookie_k0 and cookie_k1 must come together")
	}
	s.HasKey = seen["cookie_k0"]
	if seen["nonce"] && !s.HasKey {
		return s, errors.New("nonce without cookie_k0 and cookie_k1")
	}
	if s.Engine == EngineRaw && !s.HasKey {
		return s, errors.New("a raw scenario needs cookie_k0 and cookie_k1")
	}
	return s, nil
}

func (s *Scenario) set(k, v string) error {
	var err error
	switch k {
	case "name":
		s.Name = v
	case "description":
		s.Description = v
	case "engine":
		s.Engine, err = parseEngine(v)
	case "cookie_k0":
		s.Key.K0, err = strconv.ParseUint(v, 0, 64)
	case "cookie_k1":
		s.Key.K1, err = strconv.ParseUint(v, 0, 64)
	case "nonce":
		var n uint64
		n, err = strconv.ParseUint(v, 0, 32)
		s.Nonce = uint32(n)
	case "prober":
		s.Prober, err = netip.ParseAddrPort(v)
	case "target":
		s.Target, err = netip.ParseAddrPort(v)
	case "state":
		s.State, err = ParseState(v)
	case "reply":
		s.Reply, err = ParseReply(v)
	case "valid":
		s.Valid, err = strconv.ParseBool(v)
	case "syns":
		s.SYNs, err = strconv.Atoi(v)
	case "accepted":
		s.Accepted, err = strconv.Atoi(v)
	case "pcapcheck":
		if v != "pass" && v != "fail" {
			return fmt.Errorf("want pass or fail, not %q", v)
		}
		s.PcapCheck = v
	case "flags":
		s.Flags = v
	case "match":
		if v != "exact" && v != "prefix" {
			return fmt.Errorf("want exact or prefix, not %q", v)
		}
		s.Match = v
	default:
		return errors.New("unknown key")
	}
	return err
}

// Load reads every <name>.txt of dir, sorted by name, and checks that its
// <name>.pcap exists and that the name inside matches the file's.
func Load(dir string) ([]Scenario, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.txt"))
	if err != nil {
		return nil, err
	}
	sort.Strings(files)
	var out []Scenario
	for _, f := range files {
		text, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("golden: %w", err)
		}
		s, err := Unmarshal(text)
		if err != nil {
			return nil, fmt.Errorf("golden: %s: %w", f, err)
		}
		if want := strings.TrimSuffix(filepath.Base(f), ".txt"); s.Name != want {
			return nil, fmt.Errorf("golden: %s: name=%s, want %s", f, s.Name, want)
		}
		if _, err := os.Stat(s.PcapPath(dir)); err != nil {
			return nil, fmt.Errorf("golden: %s has no capture: %w", f, err)
		}
		out = append(out, s)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("golden: no scenario (*.txt) in %s", dir)
	}
	return out, nil
}
