package testnet_test

import (
	"bytes"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rawprobe/rawprobe/internal/verify/testnet"
)

// inProberNS fails t unless the process runs in n's prober namespace: a
// child that dialled from the host namespace would send test traffic out
// of the machine.
func inProberNS(t *testing.T, n *testnet.Net) {
	t.Helper()
	if _, err := net.InterfaceByName(n.ProberLink); err != nil {
		t.Fatalf("child is not in the prober namespace (no link %s): %v", n.ProberLink, err)
	}
}

func TestRunInProber(t *testing.T) {
	t.Parallel()
	if n, ok := testnet.Child(); ok {
		inProberNS(t, n)
		if got := os.Getenv("TESTNET_CHILD_MARK"); got != "42" {
			t.Errorf("child env TESTNET_CHILD_MARK = %q, want 42", got)
		}
		// Sockets made on any goroutine, without InProber, are in the
		// prober namespace.
		var wg sync.WaitGroup
		for i := range 3 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				a := netip.AddrPortFrom(n.Answering4.Addr().Next(), 80)
				if i == 2 {
					a = netip.AddrPortFrom(n.Answering6.Addr().Next(), 80)
				}
				c, err := net.DialTimeout("tcp", a.String(), 5*time.Second)
				if err != nil {
					t.Errorf("dial %v: %v", a, err)
					return
				}
				c.Close()
			}()
		}
		wg.Wait()
		return
	}
	n := testnet.New(t)
	l := n.Listen(t, "tcp", ":80")
	n.RunInProber(t, "TESTNET_CHILD_MARK=42")
	if got := l.WaitAccepted(3, 5*time.Second); got != 3 {
		t.Errorf("target accepted %d connections from the child, want 3", got)
	}
}

// A subtest runs alone in the child; its parent's New returns the parent's
// Net there.
func TestRunInProberSubtest(t *testing.T) {
	t.Parallel()
	n := testnet.New(t)
	_, child := testnet.Child()
	var l *testnet.Listener
	if !child {
		l = n.Listen(t, "tcp", ":8080")
	}
	t.Run("dial one", func(t *testing.T) {
		if n, ok := testnet.Child(); ok {
			inProberNS(t, n)
			c, err := net.DialTimeout("tcp", netip.AddrPortFrom(n.Answering4.Addr().Next(), 8080).String(), 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			c.Close()
			return
		}
		n.RunInProber(t)
		if got := l.WaitAccepted(1, 5*time.Second); got != 1 {
			t.Errorf("accepted %d, want 1", got)
		}
	})
	t.Run("not selected", func(t *testing.T) {
		if child {
			t.Error("a subtest RunInProber did not ask for ran in the child")
		}
	})
}

// helperEnv makes the helper tests below do their work; they only run as
// subprocesses of the tests that check their outcome.
const helperEnv = "TESTNET_HELPER"

// TestHelperFailingChild is the negative control of RunInProber: its child
// fails, so it must fail.
func TestHelperFailingChild(t *testing.T) {
	if os.Getenv(helperEnv) != "failing-child" {
		t.Skip("helper: run by TestRunInProberFailsWithChild")
	}
	if _, ok := testnet.Child(); ok {
		t.Error("deliberate child failure")
		return
	}
	n := testnet.New(t)
	n.RunInProber(t)
}

// TestHelperPanic panics after building a network; its cleanup must still
// remove the namespaces, whose names it prints.
func TestHelperPanic(t *testing.T) {
	if os.Getenv(helperEnv) != "panic" {
		t.Skip("helper: run by TestCleanupAfterPanic")
	}
	n := testnet.New(t)
	t.Logf("NAMESPACES %s %s", n.ProberNS, n.TargetNS)
	panic("deliberate panic")
}

// runHelper runs one helper test of this binary in a subprocess and
// returns its output and whether it failed.
func runHelper(t *testing.T, name, mode string) (string, bool) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^"+name+"$", "-test.v", "-test.count=1", "-test.timeout=2m")
	cmd.Env = append(os.Environ(), helperEnv+"="+mode)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err = cmd.Run()
	if _, ok := err.(*exec.ExitError); err != nil && !ok {
		t.Fatalf("running %s: %v", name, err)
	}
	return out.String(), err != nil
}

func TestRunInProberFailsWithChild(t *testing.T) {
	t.Parallel()
	if _, ok := testnet.Child(); ok {
		return
	}
	testnet.RequirePrivileges(t)
	out, failed := runHelper(t, "TestHelperFailingChild", "failing-child")
	if !failed {
		t.Fatalf("the parent of a failing child passed:\n%s", out)
	}
	for _, want := range []string{"deliberate child failure", "child TestHelperFailingChild failed", "--- FAIL: TestHelperFailingChild"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestCleanupAfterPanic(t *testing.T) {
	t.Parallel()
	if _, ok := testnet.Child(); ok {
		return
	}
	testnet.RequirePrivileges(t)
	out, failed := runHelper(t, "TestHelperPanic", "panic")
	if !failed || !strings.Contains(out, "deliberate panic") {
		t.Fatalf("helper did not panic:\n%s", out)
	}
	i := strings.Index(out, "NAMESPACES ")
	if i < 0 {
		t.Fatalf("helper did not print its namespaces:\n%s", out)
	}
	f := strings.Fields(out[i:])
	if len(f) < 3 {
		t.Fatalf("bad NAMESPACES line:\n%s", out)
	}
	for _, ns := range f[1:3] {
		if _, err := os.Stat("/run/netns/" + ns); !os.IsNotExist(err) {
			t.Errorf("namespace %s survived the panic (stat: %v)", ns, err)
			exec.Command("ip", "netns", "del", ns).Run()
		}
	}
}
