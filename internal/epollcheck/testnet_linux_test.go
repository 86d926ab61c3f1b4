package epollcheck

import (
	"bufio"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rawprobe/rawprobe/internal/verify/netlab"
	"github.com/rawprobe/rawprobe/internal/verify/testnet"
)

// The proofs in the isolated test network run their prober half in a
// child process re-executed inside the prober namespace (RunInProber):
// the engine creates its per-check sockets on whatever thread calls
// Check, so the whole process must live in the namespace.

// at formats addr:port.
func at(a netip.Addr, port int) string { return netip.AddrPortFrom(a, uint16(port)).String() }

// TestOutcomesInTestnet checks that each kind of target across the veth
// link gets its Outcome, IPv4 and IPv6: open, refused, timeout, an ICMP
// error (Unreachable, after a SYN), and a target the prober's namespace
// has no route to (NoRoute with connect()'s errno). The prober's
// Tcp.ActiveOpens, which the kernel counts as it builds a SYN, proves that
// NoRoute sent nothing, and, as the control, that Unreachable did.
func TestOutcomesInTestnet(t *testing.T) {
	if n, ok := testnet.Child(); ok {
		c := startedEngine(t)
		unreachable := func(o Outcome) bool {
			return o.Kind == Unreachable && (o.Errno == syscall.EHOSTUNREACH || o.Errno == syscall.ENETUNREACH) && o.Err == nil
		}
		for _, tc := range []struct {
			name, addr string
			want       func(Outcome) bool
			synsSent   uint64
			timeout    time.Duration
		}{
			{"open v4", at(netlab.Nth(n.Answering4, 1), 80), is(Outcome{Kind: Open}), 1, 2 * time.Second},
			{"closed port v6", at(netlab.Nth(n.Answering6, 1), 81), is(Outcome{Kind: Refused, Errno: syscall.ECONNREFUSED}), 1, 2 * time.Second},
			{"silent v4", at(netlab.Nth(n.Silent4, 1), 80), is(Outcome{Kind: Timeout}), 1, 300 * time.Millisecond},
			{"unreachable v4", at(netlab.Nth(n.Unreachable4, 1), 80), unreachable, 1, 2 * time.Second},
			{"unreachable v6", at(netlab.Nth(n.Unreachable6, 1), 80), unreachable, 1, 2 * time.Second},
			// The prober's namespace routes the test prefixes only.
			{"no route v4", "192.0.2.1:80", is(Outcome{Kind: NoRoute, Errno: syscall.ENETUNREACH}), 0, 2 * time.Second},
			{"no route v6", "[100::1]:80", is(Outcome{Kind: NoRoute, Errno: syscall.ENETUNREACH}), 0, 2 * time.Second},
		} {
			before := activeOpens(t)
			o := checkAddr(c, tc.addr, tc.timeout)
			sent := activeOpens(t) - before
			if !tc.want(o) || sent != tc.synsSent {
				t.Errorf("%s (%s): %+v after %d connects that sent a SYN; want %d", tc.name, tc.addr, o, sent, tc.synsSent)
			} else {
				t.Logf("%s (%s): %v errno %d, %d SYN", tc.name, tc.addr, o.Kind, int(o.Errno), sent)
			}
		}
		return
	}
	n := testnet.New(t)
	n.Listen(t, "tcp", ":80")
	n.RunInProber(t)
}

// is returns a test that an Outcome equals want.
func is(want Outcome) func(Outcome) bool { return func(o Outcome) bool { return o == want } }

// activeOpens reads Tcp.ActiveOpens (connects that sent a SYN) of the
// calling process's network namespace.
func activeOpens(t *testing.T) uint64 {
	t.Helper()
	f, err := os.Open("/proc/net/snmp")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var header []string
	s := bufio.NewScanner(f)
	for s.Scan() {
		fields := strings.Fields(s.Text())
		if len(fields) == 0 || fields[0] != "Tcp:" {
			continue
		}
		if header == nil {
			header = fields
			continue
		}
		for i, name := range header {
			if name == "ActiveOpens" && i < len(fields) {
				v, err := strconv.ParseUint(fields[i], 10, 64)
				if err != nil {
					t.Fatal(err)
				}
				return v
			}
		}
	}
	t.Fatal("no Tcp ActiveOpens in /proc/net/snmp")
	return 0
}
