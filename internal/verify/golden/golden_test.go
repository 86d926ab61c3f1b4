package golden_test

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/rawprobe/rawprobe/internal/verify/golden"
	"github.com/rawprobe/rawprobe/internal/verify/golden/record"
	"github.com/rawprobe/rawprobe/internal/verify/pcapcheck"
	"github.com/rawprobe/rawprobe/rawcheck"
	"github.com/rawprobe/rawprobe/synack"
)

const pcaps = "../../../testdata/pcaps"

func load(t *testing.T) []golden.Scenario {
	t.Helper()
	all, err := golden.Load(pcaps)
	if err != nil {
		t.Fatal(err)
	}
	return all
}

func find(t *testing.T, name string) golden.Scenario {
	t.Helper()
	for _, s := range load(t) {
		if s.Name == name {
			return s
		}
	}
	t.Fatalf("no scenario %s in %s", name, pcaps)
	return golden.Scenario{}
}

// Every scenario make pcaps records is in testdata/pcaps, and nothing else.
func TestEveryScenarioIsRecorded(t *testing.T) {
	var got, want []string
	for _, s := range load(t) {
		got = append(got, s.Name)
	}
	for _, d := range record.Defs() {
		want = append(want, d.Name)
	}
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("scenarios in %s: %v, want %v (run make pcaps)", pcaps, got, want)
	}
}

// Each capture, fed to synack.Parse and validated with its cookie key,
// gives the scenario's result, and the flow's flags are the golden ones.
func TestReplayGivesExpectedState(t *testing.T) {
	for _, s := range load(t) {
		t.Run(s.Name, func(t *testing.T) {
			o, err := golden.Replay(s, pcaps)
			if err != nil {
				t.Fatal(err)
			}
			if o.State != s.State || o.Reply != s.Reply || (o.Valid > 0) != s.Valid || o.SYNs != s.SYNs {
				t.Errorf("replay: state %s, reply %s, %d valid, %d invalid, %d SYNs; want state %s, reply %s, valid %v, %d SYNs",
					o.State, o.Reply, o.Valid, o.Invalid, o.SYNs, s.State, s.Reply, s.Valid, s.SYNs)
			}
			if s.State == golden.StateUnreachable && o.ICMPType == 0 {
				t.Errorf("unreachable without an ICMP type")
			}
			frames, err := golden.ReadFrames(s.PcapPath(pcaps))
			if err != nil {
				t.Fatal(err)
			}
			if got := golden.FlagSequence(frames, s.Prober, s.Target); !golden.FlagsMatch(got, s.Flags, s.Match) {
				t.Errorf("flags %q, want %q (%s)", got, s.Flags, s.Match)
			}
		})
	}
}

// pcapcheck passes every capture but the net.Dial one, and classifies the
// scenario's flow as the scenario says.
func TestPcapcheckClassifiesEveryCapture(t *testing.T) {
	for _, s := range load(t) {
		t.Run(s.Name, func(t *testing.T) {
			rep, err := pcapcheck.AnalyzeFile(s.PcapPath(pcaps))
			if err != nil {
				t.Fatal(err)
			}
			if got := rep.Err() == nil; got != (s.PcapCheck == "pass") {
				t.Fatalf("pcapcheck verdict %v, want %s: %v", got, s.PcapCheck, rep.Err())
			}
			if s.Engine == golden.EngineDial && rep.ACKOnlySegments == 0 {
				t.Errorf("the full handshake shows no ACK-only segment: %v", rep)
			}
			i := slices.IndexFunc(rep.Flows, func(f pcapcheck.Flow) bool { return f.Prober == s.Prober && f.Target == s.Target })
			if i < 0 {
				t.Fatalf("pcapcheck found no flow %v -> %v: %v", s.Prober, s.Target, rep)
			}
			f := rep.Flows[i]
			if f.Reply != s.Reply || f.SYNs != s.SYNs {
				t.Errorf("flow: reply %v, %d SYNs; want %s, %d", f.Reply, f.SYNs, s.Reply, s.SYNs)
			}
		})
	}
}

// Negative control: a wrong key is caught (the SYN's seq is not its
// cookie), and a wrong key that is not checked against the SYN would
// reject the valid SYN-ACK.
func TestReplayWrongKey(t *testing.T) {
	s := find(t, "ipv4-open")
	s.Key.K0 ^= 1
	if _, err := golden.Replay(s, pcaps); err == nil || !strings.Contains(err.Error(), "not the cookie") {
		t.Fatalf("replay with a wrong key: err %v, want one saying the SYN's seq is not the cookie", err)
	}
}

// Negative control: a SYN-ACK whose ack is changed by one no longer
// validates, so the open port replays as a timeout.
func TestReplayTamperedSYNACK(t *testing.T) {
	s := find(t, "ipv4-open")
	frames, err := golden.ReadFrames(s.PcapPath(pcaps))
	if err != nil {
		t.Fatal(err)
	}
	tampered := 0
	var r synack.Reply
	for i := range frames {
		if synack.Parse(frames[i].Data, synack.LinkEthernet, &r) == nil && r.Kind == synack.KindSYNACK {
			frames[i].Data[14+20+11]++ // low byte of the TCP ack
			tampered++
		}
	}
	if tampered != 1 {
		t.Fatalf("%d SYN-ACKs in the capture, want 1", tampered)
	}
	o, err := golden.ReplayFrames(s, frames)
	if err != nil {
		t.Fatal(err)
	}
	if o.State != golden.StateTimeout || o.Invalid != 1 || o.Valid != 0 {
		t.Fatalf("tampered SYN-ACK: state %s, %d valid, %d invalid; want timeout, 0, 1", o.State, o.Valid, o.Invalid)
	}
}

func TestFlagsMatch(t *testing.T) {
	for _, c := range []struct {
		got, want, match string
		ok               bool
	}{
		{">S <SA >R", ">S <SA >R", "exact", true},
		{">S <SA >R >R", ">S <SA >R", "exact", false},
		{">S <SA >A >FA", ">S <SA >A", "prefix", true},
		{">S <SA", ">S <SA >A", "prefix", false},
		{">S <SA >R", ">S <SA >A", "prefix", false},
	} {
		if got := golden.FlagsMatch(c.got, c.want, c.match); got != c.ok {
			t.Errorf("FlagsMatch(%q, %q, %s) = %v, want %v", c.got, c.want, c.match, got, c.ok)
		}
	}
}

func TestUnmarshalRejectsBadFiles(t *testing.T) {
	open := find(t, "ipv4-open")
	good := string(open.Marshal())
	if _, err := golden.Unmarshal([]byte(good)); err != nil {
		t.Fatalf("the marshalled scenario does not parse: %v", err)
	}
	for _, c := range []struct{ name, text, wantErr string }{
		{"missing key", strings.Replace(good, "state=open\n", "", 1), `"state" missing`},
		{"bad state", strings.Replace(good, "state=open", "state=ajar", 1), "unknown state"},
		{"bad engine", strings.Replace(good, "engine=raw", "engine=ftp", 1), "unknown engine"},
		{"bad reply", strings.Replace(good, "reply=syn-ack", "reply=synack", 1), "unknown reply"},
		{"state rawcheck has but no scenario", strings.Replace(good, "state=open", "state=noroute", 1), "unknown state"},
		{"no key for raw", strings.Replace(good, "cookie_k1=", "x_cookie_k1=", 1), "unknown key"},
		{"half a key", strings.Replace(good, "cookie_k1=", "#", 1), "together"},
		{"bad address", strings.Replace(good, "target=198.18.0.1:80", "target=nowhere", 1), "target"},
		{"not key=value", good + "oops\n", "not key=value"},
		{"repeated", good + "syns=2\n", "repeated"},
	} {
		_, err := golden.Unmarshal([]byte(c.text))
		if err == nil || !strings.Contains(err.Error(), c.wantErr) {
			t.Errorf("%s: err %v, want one containing %q", c.name, err, c.wantErr)
		}
	}
}

// golden.State is rawcheck.State by value and by name, so a scenario's
// state converts to the one a prober reports; every name parses back to
// its state and every reply name to its pcapcheck.Reply.
func TestStatesAreRawcheckStates(t *testing.T) {
	for _, s := range []golden.State{golden.StateTimeout, golden.StateOpen, golden.StateClosed, golden.StateUnreachable} {
		if got := rawcheck.State(s).String(); got != s.String() {
			t.Errorf("golden state %v is rawcheck state %s", s, got)
		}
		if p, err := golden.ParseState(s.String()); err != nil || p != s {
			t.Errorf("ParseState(%q) = %v, %v", s.String(), p, err)
		}
	}
	for _, r := range []pcapcheck.Reply{pcapcheck.NoReply, pcapcheck.SYNACK, pcapcheck.RST, pcapcheck.ICMP} {
		if p, err := golden.ParseReply(r.String()); err != nil || p != r {
			t.Errorf("ParseReply(%q) = %v, %v", r.String(), p, err)
		}
	}
	// Negative control: names that are no scenario state or reply.
	for _, bad := range []string{"", "Open", "ajar", rawcheck.NoRoute.String()} {
		if st, err := golden.ParseState(bad); err == nil {
			t.Errorf("ParseState(%q) = %v, want an error", bad, st)
		}
	}
	for _, bad := range []string{"", "synack", "timeout"} {
		if r, err := golden.ParseReply(bad); err == nil {
			t.Errorf("ParseReply(%q) = %v, want an error", bad, r)
		}
	}
}

// The typed fields write the names the scenario files hold: marshalling a
// loaded scenario gives its file back byte for byte.
func TestMarshalReproducesFiles(t *testing.T) {
	for _, s := range load(t) {
		want, err := os.ReadFile(filepath.Join(pcaps, s.Name+".txt"))
		if err != nil {
			t.Fatal(err)
		}
		if got := s.Marshal(); !bytes.Equal(got, want) {
			t.Errorf("%s: Marshal gives\n%s\nthe file holds\n%s", s.Name, got, want)
		}
	}
}

// Load refuses a directory without scenarios.
func TestLoadEmptyDir(t *testing.T) {
	if _, err := golden.Load(t.TempDir()); err == nil {
		t.Fatal("Load of an empty directory succeeded")
	}
}

// Negative control: a wrong nonce is caught like a wrong key (the SYN's
// seq is not the key's cookie XOR the nonce), and a scenario's nonce
// survives Marshal and Unmarshal.
func TestReplayWrongNonce(t *testing.T) {
	s := find(t, "ipv4-open")
	s.Nonce ^= 0x80000000
	if _, err := golden.Replay(s, pcaps); err == nil || !strings.Contains(err.Error(), "not the cookie") {
		t.Fatalf("replay with a wrong nonce: err %v, want one saying the SYN's seq is not the cookie", err)
	}
	got, err := golden.Unmarshal(s.Marshal())
	if err != nil {
		t.Fatal(err)
	}
	if got.Nonce != s.Nonce {
		t.Fatalf("nonce %#x after Marshal and Unmarshal, want %#x", got.Nonce, s.Nonce)
	}
	compat := find(t, "compat-open")
	if _, err := golden.Unmarshal(append(compat.Marshal(), "nonce=0x1\n"...)); err == nil || !strings.Contains(err.Error(), "nonce without") {
		t.Fatalf("a nonce without a cookie key: err %v, want one saying so", err)
	}
}
