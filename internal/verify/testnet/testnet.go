package testnet

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/rawprobe/rawprobe/internal/verify/netlab"
)

// EnvRequirePrivileges is the environment variable that turns the skip of
// a privileged test without the needed privileges into a failure, when it
// is set to "1" (as CI does).
const EnvRequirePrivileges = "RAWPROBE_REQUIRE_PRIV"

// envChild carries the parent's Net, as JSON, to a test re-executed by
// RunInProber.
const envChild = "RAWPROBE_TESTNET_CHILD"

// Net is a test network made by New: a netlab network, whose fields and
// methods it promotes, with the testing.TB methods Listen and RunInProber.
type Net struct{ *netlab.Net }

// Listener is a TCP listener in the target namespace made by Net.Listen.
type Listener = netlab.Listener

// Option changes how New builds the network.
type Option = netlab.Option

// WithLoss makes the target drop the given fraction (0 to 1) of the TCP
// SYNs that arrive on its link, at random; see netlab.WithLoss. Values
// outside [0, 1] make New fail the test.
func WithLoss(fraction float64) Option { return netlab.WithLoss(fraction) }

// removeStaleOnce runs netlab.RemoveStale once per test binary.
var removeStaleOnce sync.Once

// New builds a fresh test network for t with netlab.Setup: two
// namespaces, a veth pair, the addresses, routes, nft rules and namespaced
// sysctls described in package netlab. It first calls RequirePrivileges
// and, once per test binary, removes the namespaces that crashed test
// binaries left behind (netlab.RemoveStale). Everything is removed in
// t.Cleanup. New fails t if the network cannot be built.
//
// In a process started by RunInProber, New creates nothing and returns the
// parent's Net, so that a parent test whose subtests use RunInProber runs
// the same code in both processes; it must still not call Listen there.
func New(t testing.TB, opts ...Option) *Net {
	t.Helper()
	if n, ok := Child(); ok {
		return n
	}
	RequirePrivileges(t)
	removeStaleOnce.Do(func() {
		for _, ns := range netlab.RemoveStale() {
			t.Logf("testnet: removed stale namespace %s", ns)
		}
	})
	n, remove, err := netlab.Setup(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("testnet: removing namespaces %s and %s (links %s, %s)", n.ProberNS, n.TargetNS, n.ProberLink, n.TargetLink)
		}
		if err := remove(); err != nil {
			t.Error(err)
		}
	})
	return &Net{n}
}

// Listen starts a TCP listener in the target namespace and closes it in
// t.Cleanup; see netlab.Net.Listen for network and address. An empty or
// unspecified host covers every local address, so ":80" with "tcp" listens
// on port 80 of the whole of Answering4 and Answering6. Listen fails t on
// error, and in a RunInProber child, where the target is the parent's.
func (n *Net) Listen(t testing.TB, network, address string) *Listener {
	t.Helper()
	if _, ok := Child(); ok {
		t.Fatal("testnet: Listen called in a RunInProber child process; listen in the parent, before RunInProber")
	}
	l, err := n.Net.Listen(network, address)
	if err != nil {
		t.Fatalf("testnet: %v", err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// DelayPath is a prefix answered after a delay; see netlab.DelayPath.
type DelayPath = netlab.DelayPath

// DelayPath makes the IPv4 prefix p answer every SYN with a SYN-ACK
// delay ± jitter later (netlab.Net.AddDelayPath) and stops it in
// t.Cleanup. It fails t on error, and in a RunInProber child.
func (n *Net) DelayPath(t testing.TB, p netip.Prefix, delay, jitter time.Duration) *DelayPath {
	t.Helper()
	if _, ok := Child(); ok {
		t.Fatal("testnet: DelayPath called in a RunInProber child process; add it in the parent, before RunInProber")
	}
	d, err := n.Net.AddDelayPath(p, delay, jitter)
	if err != nil {
		t.Fatalf("testnet: %v", err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// Child reports whether the running process is a test re-executed by
// RunInProber inside the prober namespace and, if so, returns the parent's
// Net. A test that uses RunInProber must call Child before New and run its
// prober-side half when Child returns true.
func Child() (*Net, bool) {
	s, ok := os.LookupEnv(envChild)
	if !ok {
		return nil, false
	}
	var n netlab.Net
	if err := json.Unmarshal([]byte(s), &n); err != nil {
		panic(fmt.Sprintf("testnet: bad %s in the environment: %v", envChild, err))
	}
	return &Net{&n}, true
}

// BacklogDrops returns how many received packets the kernel has dropped
// because a CPU's input backlog was full; see netlab.BacklogDrops.
func BacklogDrops() (uint64, error) { return netlab.BacklogDrops() }
