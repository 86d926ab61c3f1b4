package golden

import (
	"fmt"
	"io"
	"net/netip"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"

	"github.com/rawprobe/rawprobe/internal/verify/pcapcheck"
	"github.com/rawprobe/rawprobe/synack"
)

// Frame is one captured Ethernet frame.
type Frame struct {
	// Time is when it was captured.
	Time time.Time
	// Data is the frame, from the Ethernet header on.
	Data []byte
}

// ReadFrames reads every frame of an Ethernet pcap file.
func ReadFrames(path string) ([]Frame, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("golden: %w", err)
	}
	defer f.Close()
	r, err := pcapgo.NewReader(f)
	if err != nil {
		return nil, fmt.Errorf("golden: %s: %w", path, err)
	}
	if lt := r.LinkType(); lt != layers.LinkTypeEthernet {
		return nil, fmt.Errorf("golden: %s: link type %v, want Ethernet", path, lt)
	}
	var out []Frame
	for {
		data, ci, err := r.ReadPacketData()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("golden: %s: frame %d: %w", path, len(out)+1, err)
		}
		out = append(out, Frame{Time: ci.Timestamp, Data: data})
	}
}

// flagLetters spells TCP flags in a fixed order.
var flagLetters = []struct {
	bit    uint8
	letter byte
}{
	{pcapcheck.FlagSYN, 'S'}, {pcapcheck.FlagFIN, 'F'}, {pcapcheck.FlagRST, 'R'},
	{pcapcheck.FlagPSH, 'P'}, {pcapcheck.FlagACK, 'A'}, {pcapcheck.FlagURG, 'U'},
}

// token spells one segment of a flow: ">" from the prober, "<" from the
// target, then its flags ("S", "SA", "R", "RA", "FA", "PA", "A"), or
// "<ICMPv4:3/1" / "<ICMPv6:1/3" for an ICMP error quoting the prober's SYN.
func token(s pcapcheck.Segment, fromProber bool) string {
	if s.Quoted {
		v := "v4"
		if s.Src.Addr().Is6() {
			v = "v6"
		}
		return fmt.Sprintf("<ICMP%s:%d/%d", v, s.ICMPType, s.ICMPCode)
	}
	var b strings.Builder
	if fromProber {
		b.WriteByte('>')
	} else {
		b.WriteByte('<')
	}
	for _, f := range flagLetters {
		if s.Flags&f.bit != 0 {
			b.WriteByte(f.letter)
		}
	}
	return b.String()
}

// FlagSequence returns the flags of every segment of the flow between
// prober and target, in capture order, separated by spaces: e.g.
// ">S <SA >R" for an open port probed without completing the handshake.
// ICMP errors quoting the prober's segments count as the target's.
func FlagSequence(frames []Frame, prober, target netip.AddrPort) string {
	var tokens []string
	for _, f := range frames {
		s, ok := pcapcheck.DecodeEthernet(f.Data)
		if !ok {
			continue
		}
		switch {
		case s.Src == prober && s.Dst == target:
			tokens = append(tokens, token(s, !s.Quoted))
		case s.Src == target && s.Dst == prober:
			tokens = append(tokens, token(s, false))
		}
	}
	return strings.Join(tokens, " ")
}

// FirstSYN returns the prober address and port of the first SYN to target
// in frames, for flows whose source port the kernel chose.
func FirstSYN(frames []Frame, target netip.AddrPort) (netip.AddrPort, bool) {
	for _, f := range frames {
		if s, ok := pcapcheck.DecodeEthernet(f.Data); ok && s.IsSYN() && s.Dst == target {
			return s.Src, true
		}
	}
	return netip.AddrPort{}, false
}

// FirstSYNSeq returns the sequence number of the first SYN from prober to
// target in frames.
func FirstSYNSeq(frames []Frame, prober, target netip.AddrPort) (uint32, bool) {
	for _, f := range frames {
		if s, ok := pcapcheck.DecodeEthernet(f.Data); ok && s.IsSYN() && s.Src == prober && s.Dst == target {
			return s.Seq, true
		}
	}
	return 0, false
}

// Outcome is what a replay found in a capture for a scenario's flow.
type Outcome struct {
	// State is the result the first valid reply gives (StateOpen,
	// StateClosed or StateUnreachable), or StateTimeout when no valid
	// reply came.
	State State
	// Reply is the kind of the first reply of the flow, valid or not
	// (pcapcheck.NoReply when there was none).
	Reply pcapcheck.Reply
	// SYNs counts the prober's SYNs; ISN is the first one's sequence
	// number.
	SYNs int
	ISN  uint32
	// Valid and Invalid count the replies that do and do not answer the
	// SYN (cookie and nonce, or ack = ISN+1 without a key).
	Valid, Invalid int
	// ICMPType and ICMPCode are those of the first valid ICMP error.
	ICMPType, ICMPCode uint8
}

// Replay feeds every frame of the scenario's capture in dir to
// synack.Parse and decides, like a prober would, what the scenario's flow
// found. Replies are validated with the scenario's cookie key and nonce, or, for
// kernel-made SYNs, against the captured SYN's sequence number. For a raw
// scenario it also checks that the captured SYN's sequence number is the
// key's cookie XOR the nonce, so a wrong key or nonce in the .txt is an
// error, not a timeout.
func Replay(s Scenario, dir string) (Outcome, error) {
	frames, err := ReadFrames(s.PcapPath(dir))
	if err != nil {
		return Outcome{}, err
	}
	return ReplayFrames(s, frames)
}

// ReplayFrames is Replay on frames already read.
func ReplayFrames(s Scenario, frames []Frame) (Outcome, error) {
	o := Outcome{State: StateTimeout, Reply: pcapcheck.NoReply}
	var r synack.Reply
	for i, f := range frames {
		err := synack.Parse(f.Data, synack.LinkEthernet, &r)
		if err != nil {
			if seg, ok := pcapcheck.DecodeEthernet(f.Data); ok && seg.IsSYN() && seg.Src == s.Prober && seg.Dst == s.Target {
				if o.SYNs == 0 {
					o.ISN = seg.Seq
				} else if seg.Seq != o.ISN {
					return o, fmt.Errorf("golden: %s: frame %d: SYN with seq %d after one with %d", s.Name, i+1, seg.Seq, o.ISN)
				}
				o.SYNs++
			}
			continue
		}
		prober, target := r.Probe()
		if prober != s.Prober || target != s.Target {
			continue // the prober's own RST, or another flow
		}
		if o.SYNs == 0 {
			return o, fmt.Errorf("golden: %s: frame %d: %v reply before any SYN", s.Name, i+1, r.Kind)
		}
		if o.Reply == pcapcheck.NoReply {
			o.Reply = replyOf(r.Kind)
		}
		var valid bool
		if s.HasKey {
			n, ok := s.Key.Nonce(&r)
			valid = ok && n == s.Nonce
		} else if r.Kind == synack.KindUnreachable {
			valid = r.OrigSeq == o.ISN
		} else {
			valid = r.Flags&synack.FlagACK != 0 && r.Ack == o.ISN+1
		}
		if !valid {
			o.Invalid++
			continue
		}
		o.Valid++
		if o.Valid > 1 {
			continue
		}
		switch r.Kind {
		case synack.KindSYNACK:
			o.State = StateOpen
		case synack.KindRST:
			o.State = StateClosed
		case synack.KindUnreachable:
			o.State = StateUnreachable
			o.ICMPType, o.ICMPCode = r.ICMPType, r.ICMPCode
		}
	}
	if o.SYNs == 0 {
		return o, fmt.Errorf("golden: %s: no SYN from %v to %v in the capture", s.Name, s.Prober, s.Target)
	}
	if s.HasKey {
		if c := s.Key.Sequence(s.Prober.Addr(), s.Target.Addr(), s.Prober.Port(), s.Target.Port(), s.Nonce); c != o.ISN {
			return o, fmt.Errorf("golden: %s: the SYN's seq %#x is not the cookie %#x of the recorded key and nonce", s.Name, o.ISN, c)
		}
	}
	return o, nil
}

// replyOf returns the pcapcheck classification of a reply synack parsed.
func replyOf(k synack.Kind) pcapcheck.Reply {
	switch k {
	case synack.KindSYNACK:
		return pcapcheck.SYNACK
	case synack.KindRST:
		return pcapcheck.RST
	case synack.KindUnreachable:
		return pcapcheck.ICMP
	}
	return pcapcheck.NoReply
}

// FlagsMatch reports whether a flag sequence got matches the golden one
// want: equal for match "exact", starting with all of want's segments for
// "prefix".
func FlagsMatch(got, want, match string) bool {
	if match != "prefix" {
		return got == want
	}
	g, w := strings.Fields(got), strings.Fields(want)
	return len(g) >= len(w) && slices.Equal(g[:len(w)], w)
}
