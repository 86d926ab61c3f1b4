package compat

import (
	"errors"
	"net/netip"
	"syscall"
	"testing"
	"time"

	"github.com/rawprobe/rawprobe/internal/verify/netlab"
	"github.com/rawprobe/rawprobe/internal/verify/testnet"
)

// The proofs in the isolated test network run their prober half in a
// child process re-executed inside the prober namespace (RunInProber):
// the engine creates its per-check sockets on whatever thread calls
// CheckAddr, so the whole process must live in the namespace.

// at formats addr:port.
func at(a netip.Addr, port int) string { return netip.AddrPortFrom(a, uint16(port)).String() }

// TestInTestnet checks every kind of target across the veth link: open,
// closed, silent (timeout), ICMP unreachable, IPv4 and IPv6, a target
// without a route (ENETUNREACH, as from tcp-shaker), then 3,000
// concurrent mixed checks. The target's application must accept nothing
// and the target's TCP must count no completed handshake, except those of
// the negative control (checks without zero linger, whose FIN completes
// the handshake), which must all be seen.
func TestInTestnet(t *testing.T) {
	const controlChecks = 5
	if n, ok := testnet.Child(); ok {
		c := startedChecker(t)
		open4, second4 := netlab.Nth(n.Answering4, 1), netlab.Nth(n.Answering4, 2)
		open6, second6 := netlab.Nth(n.Answering6, 1), netlab.Nth(n.Answering6, 2)
		cases := []struct {
			name, addr string
			want       func(error) bool
			timeout    time.Duration
		}{
			{"open v4", at(open4, 80), isNil, 2 * time.Second},
			{"closed port v4", at(open4, 81), isRefused, 2 * time.Second},
			{"other answering address v4", at(second4, 80), isNil, 2 * time.Second},
			{"open v6", at(open6, 80), isNil, 2 * time.Second},
			{"closed port v6", at(open6, 81), isRefused, 2 * time.Second},
			{"other answering address v6", at(second6, 80), isNil, 2 * time.Second},
			{"silent v4", at(netlab.Nth(n.Silent4, 1), 80), isTimeout, 300 * time.Millisecond},
			{"silent v6", at(netlab.Nth(n.Silent6, 1), 80), isTimeout, 300 * time.Millisecond},
			{"unreachable v4", at(netlab.Nth(n.Unreachable4, 1), 80), isUnreachable, 2 * time.Second},
			{"unreachable v6", at(netlab.Nth(n.Unreachable6, 1), 80), isUnreachable, 2 * time.Second},
			// The prober's namespace routes the test prefixes only.
			{"no route v4", "192.0.2.1:80", isNoRoute, 2 * time.Second},
		}
		for _, tc := range cases {
			err := c.CheckAddr(tc.addr, tc.timeout)
			if !tc.want(err) {
				t.Errorf("%s (%s): wrong result %v", tc.name, tc.addr, err)
			} else {
				t.Logf("%s (%s): %v", tc.name, tc.addr, err)
			}
		}
		runMixed(t, c, 3000, at(open4, 80), at(open4, 81), at(netlab.Nth(n.Silent4, 2), 80), 500*time.Millisecond)

		// Negative control: ordinary close completes the handshake.
		for i := range controlChecks {
			if err := c.CheckAddrZeroLinger(at(open4, 82), 2*time.Second, false); err != nil {
				t.Errorf("control check %d: %v", i, err)
			}
		}
		return
	}
	n := testnet.New(t)
	l := n.Listen(t, "tcp", ":80")
	control := n.Listen(t, "tcp", ":82")
	before, err := n.TargetCounters()
	if err != nil {
		t.Fatal(err)
	}
	n.RunInProber(t)
	if got := control.WaitAccepted(controlChecks, 5*time.Second); got != controlChecks {
		t.Errorf("negative control: the target accepted %d connections from %d checks without zero linger", got, controlChecks)
	}
	if got := l.Accepted(); got != 0 {
		t.Errorf("the target application accepted %d connections from zero-linger checks, want 0", got)
	}
	after, err := n.TargetCounters()
	if err != nil {
		t.Fatal(err)
	}
	if d := after["Tcp.PassiveOpens"] - before["Tcp.PassiveOpens"]; d != controlChecks {
		t.Errorf("target Tcp.PassiveOpens grew by %d, want %d (the control's handshakes only)", d, controlChecks)
	}
}

func isNil(err error) bool     { return err == nil }
func isTimeout(err error) bool { return err == ErrTimeout }
func isRefused(err error) bool {
	var ce *ErrConnect
	return errors.As(err, &ce) && errors.Is(err, syscall.ECONNREFUSED)
}
func isUnreachable(err error) bool {
	var ce *ErrConnect
	return errors.As(err, &ce) && (ce.Errno == syscall.EHOSTUNREACH || ce.Errno == syscall.ENETUNREACH)
}
func isNoRoute(err error) bool {
	var ce *ErrConnect
	return errors.As(err, &ce) && ce.Errno == syscall.ENETUNREACH
}
