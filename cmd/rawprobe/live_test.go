package main

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rawprobe/rawprobe/internal/cli/services"
)

// envRunMain makes the test binary act as the rawprobe command, so tests
// can run the real command in a child process (e.g. with fewer privileges).
const envRunMain = "RAWPROBE_TEST_RUN_MAIN"

func TestMain(m *testing.M) {
	// Service names from the embedded IANA table only, so the expected
	// output does not depend on this machine's /etc/services (children
	// inherit it).
	os.Setenv(services.EnvFile, "")
	if os.Getenv(envRunMain) == "1" {
		main()
	}
	os.Exit(m.Run())
}

// runChild runs the command in a child process, optionally behind a
// wrapper command such as setpriv, and returns its exit status and output.
func runChild(t *testing.T, wrapper []string, args ...string) (int, string, string) {
	t.Helper()
	argv := append(append(wrapper, os.Args[0]), args...)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), envRunMain+"=1")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("%q: %v", argv, err)
	}
	return cmd.ProcessState.ExitCode(), stdout.String(), stderr.String()
}

// loopbackPorts returns a listening loopback port (its listener) and one
// with nothing listening.
func loopbackPorts(t *testing.T) (*net.TCPListener, netip.AddrPort, netip.AddrPort) {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	tmp, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := tmp.Addr().(*net.TCPAddr).AddrPort()
	tmp.Close()
	return ln.(*net.TCPListener), ln.Addr().(*net.TCPAddr).AddrPort(), closed
}

// assertNoAccept fails t if the probed application saw a connection.
func assertNoAccept(t *testing.T, ln *net.TCPListener) {
	t.Helper()
	ln.SetDeadline(time.Now().Add(300 * time.Millisecond))
	c, err := ln.Accept()
	if err == nil {
		c.Close()
		t.Error("the probed listener accepted a connection")
	} else if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("Accept: %v", err)
	}
}

// TestLiveConnectEngine runs the command as a process with the connect
// engine against loopback: exit 0 when the port is open, 1 when another is
// closed, and the application never accepts a connection.
func TestLiveConnectEngine(t *testing.T) {
	ln, open, closed := loopbackPorts(t)
	code, stdout, stderr := runChild(t, nil, "--engine", "connect", open.String())
	if code != 0 || !strings.Contains(stdout, open.String()) || !strings.Contains(stdout, " open ") {
		t.Errorf("open port: exit %d\n%s%s", code, stdout, stderr)
	}
	code, stdout, stderr = runChild(t, nil, "--engine", "connect", "--format", "csv", open.String(), closed.String())
	if code != 1 || !strings.Contains(stdout, closed.String()+",127.0.0.1,"+itoa(closed.Port())+","+services.Lookup(closed.Port(), "tcp")+",closed") {
		t.Errorf("open + closed: exit %d\n%s%s", code, stdout, stderr)
	}
	if !strings.Contains(stderr, "probed 2, open 1, closed 1") {
		t.Errorf("summary: %q", stderr)
	}
	assertNoAccept(t, ln)
	// Control: a real connection is seen.
	c, err := net.Dial("tcp4", open.String())
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	ln.SetDeadline(time.Now().Add(5 * time.Second))
	if a, err := ln.Accept(); err != nil {
		t.Errorf("control connection not accepted: %v", err)
	} else {
		a.Close()
	}
}

func itoa(p uint16) string { return strconv.Itoa(int(p)) }

// TestDemo runs "rawprobe demo" as make demo does and checks its output:
// the namespace demo with packet sequences when privileged, the loopback
// demo otherwise; the verdict must be PASS.
func TestDemo(t *testing.T) {
	code, stdout, stderr := runChild(t, nil, "demo")
	if code != 0 || !strings.Contains(stdout, "verdict: PASS") {
		t.Fatalf("exit %d\n%s%s", code, stdout, stderr)
	}
	if strings.Contains(stdout, "raw engine in private network namespaces") && !strings.Contains(stdout, "SYN → SYN-ACK → RST") {
		t.Errorf("namespace demo without the open port's packet sequence:\n%s", stdout)
	}
	if os.Getenv("RAWPROBE_REQUIRE_PRIV") == "1" && !strings.Contains(stdout, "raw engine in private network namespaces") {
		t.Errorf("RAWPROBE_REQUIRE_PRIV=1 but the demo did not use namespaces:\n%s", stdout)
	}
	if code, _, stderr := runChild(t, nil, "demo", "extra"); code != 2 || !strings.Contains(stderr, "extra") {
		t.Errorf("demo extra: exit %d %q", code, stderr)
	}
}
