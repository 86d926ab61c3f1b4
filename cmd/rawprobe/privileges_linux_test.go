package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/rawprobe/rawprobe/internal/privdrop"
	"github.com/rawprobe/rawprobe/internal/verify/testnet"
)

// The late link: a veth pair added between the two namespaces while the
// command runs, with a documentation prefix no route knows at its start.
var (
	lateProber = netip.MustParseAddr("192.0.2.1")
	lateTarget = netip.MustParseAddr("192.0.2.2")
)

// buildCommand builds rawprobe into a new directory that every user may
// traverse (t.TempDir's are 0700: nobody could not run a binary in them)
// and returns the binary's path. With cgo false it is built as
// examples/Dockerfile builds it, CGO_ENABLED=0: privdrop then reaches the
// threads through syscall.AllThreadsSyscall, else through libpsx's signal.
func buildCommand(t *testing.T, cgo bool) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "rawprobe-priv-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "rawprobe")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, ".")
	if !cgo {
		build.Env = append(os.Environ(), "CGO_ENABLED=0")
	}
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// threadStatuses reads the capability state of every thread of pid.
func threadStatuses(pid int) ([]privdrop.Status, error) {
	tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/status", pid))
	if err != nil || len(tasks) == 0 {
		return nil, fmt.Errorf("no threads of %d: %v", pid, err)
	}
	var sts []privdrop.Status
	for _, name := range tasks {
		st, err := privdrop.ReadStatus(name)
		if err != nil {
			return nil, err
		}
		sts = append(sts, st)
	}
	return sts, nil
}

// waitDropped polls pid's threads until none has an effective capability
// and returns their statuses; it fails t when they still have one after
// 10s or cmd exits first.
func waitDropped(t *testing.T, cmd *exec.Cmd, bin string, exited <-chan struct{}) []privdrop.Status {
	t.Helper()
	pid := cmd.Process.Pid
	// ip netns exec executes the command in its own process.
	if exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid)); err != nil || exe != bin {
		for deadline := time.Now().Add(5 * time.Second); exe != bin && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
			exe, _ = os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
		}
		if exe != bin {
			t.Fatalf("process %d runs %q, not %s", pid, exe, bin)
		}
	}
	var last []privdrop.Status
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		select {
		case <-exited:
			t.Fatalf("%s exited before its capabilities were read (last read %+v)", bin, last)
		default:
		}
		sts, err := threadStatuses(pid)
		if err != nil {
			continue
		}
		last = sts
		dropped := true
		for _, st := range sts {
			dropped = dropped && st.Effective == 0
		}
		if dropped {
			return sts
		}
	}
	t.Fatalf("%s still has effective capabilities after 10s: %+v", bin, last)
	return nil
}

// addLateLink adds a veth pair between n's namespaces with lateProber and
// lateTarget on it, as an interface appearing while a prober runs.
func addLateLink(t *testing.T, n *testnet.Net) {
	t.Helper()
	pl, tl := "late"+n.ProberLink, "late"+n.TargetLink
	for _, args := range [][]string{
		{"-n", n.ProberNS, "link", "add", pl, "type", "veth", "peer", "name", tl, "netns", n.TargetNS},
		{"-n", n.ProberNS, "addr", "add", lateProber.String() + "/30", "dev", pl},
		{"-n", n.TargetNS, "addr", "add", lateTarget.String() + "/30", "dev", tl},
		{"-n", n.ProberNS, "link", "set", pl, "up"},
		{"-n", n.TargetNS, "link", "set", tl, "up"},
	} {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %v: %v\n%s", args, err, out)
		}
	}
	t.Cleanup(func() { exec.Command("ip", "-n", n.ProberNS, "link", "del", pl).Run() })
}

// requirePrivTools fails or skips t (as RequirePrivileges does) without
// setcap and setpriv.
func requirePrivTools(t *testing.T) {
	t.Helper()
	requireTool(t, "setcap", "libcap2-bin")
	requireTool(t, "setpriv", "util-linux")
}

// lateWaitScan runs bin as a --wait scan in n's prober namespace, behind
// wrapper (e.g. setpriv), of an open target and one on the late link: it
// reads the process's capabilities while the scan waits for the second
// (noroute until the link exists), adds the link and returns the threads'
// statuses and the scan's exit status and output.
func lateWaitScan(t *testing.T, n *testnet.Net, bin string, wrapper ...string) ([]privdrop.Status, int, string, string) {
	t.Helper()
	open := netip.AddrPortFrom(n.Answering4.Addr().Next(), 80)
	late := netip.AddrPortFrom(lateTarget, 80)
	argv := append(append([]string{"netns", "exec", n.ProberNS}, wrapper...), bin,
		"--engine", "raw", "--wait", "30s", "--timeout", "300ms", "--format", "jsonl", open.String(), late.String())
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ip", argv...)
	stdout, stderr := &lockedBuffer{}, &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
	})
	// ip setpriv: the binary runs once setpriv has executed it.
	sts := waitDropped(t, cmd, bin, exited)
	addLateLink(t, n)
	select {
	case <-exited:
	case <-time.After(40 * time.Second):
		t.Fatalf("the scan did not end after the late link was added\n%s", stderr)
	}
	return sts, cmd.ProcessState.ExitCode(), stdout.String(), stderr.String()
}

// jsonlStates returns each target's state in a JSONL output.
func jsonlStates(t *testing.T, out string) map[string]string {
	t.Helper()
	states := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		var r struct{ Target, State string }
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("bad JSONL line %q: %v", sc.Text(), err)
		}
		states[r.Target] = r.State
	}
	return states
}

// TestCapabilitiesCheckerControl is the negative control of the checks
// below: a root process in the prober namespace that drops nothing shows
// effective capabilities in /proc/PID/status.
func TestCapabilitiesCheckerControl(t *testing.T) {
	testnet.RequirePrivileges(t)
	n := testnet.New(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cmd := n.ProberCmd(ctx, "sleep", "30")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	defer cmd.Process.Kill()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		exe, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", cmd.Process.Pid))
		if strings.HasSuffix(exe, "/sleep") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("sleep did not start: %q", exe)
		}
	}
	sts, err := threadStatuses(cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range sts {
		if st.Effective&(1<<unix.CAP_NET_RAW) == 0 {
			t.Errorf("root sleep without a drop: %+v, want CAP_NET_RAW effective", st)
		}
	}
}

// TestScanDropsCapabilities runs the built command as root in the prober
// namespace as a --wait scan: once its engine and outputs are open no
// thread has an effective, permitted or bounding capability, and it still
// finds the open target and, after a link and route were added to the
// namespace, the target behind them (the one listener sees replies on the
// new interface; the netlink route lookups need no capability).
func TestScanDropsCapabilities(t *testing.T) {
	testnet.RequirePrivileges(t)
	bin := buildCommand(t, true)
	n := testnet.New(t)
	n.Listen(t, "tcp", ":80")
	sts, code, stdout, stderr := lateWaitScan(t, n, bin)
	for i, st := range sts {
		if st != (privdrop.Status{NoNewPrivs: true}) {
			t.Errorf("scan thread %d while probing: %+v, want every set empty and no_new_privs", i, st)
		}
	}
	if code != 0 {
		t.Fatalf("exit %d, want 0 (both targets open)\n%s\n%s", code, stdout, stderr)
	}
	open := netip.AddrPortFrom(n.Answering4.Addr().Next(), 80).String()
	late := netip.AddrPortFrom(lateTarget, 80).String()
	if got := jsonlStates(t, stdout); got[open] != "open" || got[late] != "open" {
		t.Errorf("states %v, want %s and %s open\n%s\n%s", got, open, late, stdout, stderr)
	}
	if !strings.Contains(stderr, late+" noroute -> open") {
		t.Errorf("stderr does not show %s going from noroute to open:\n%s", late, stderr)
	}
}

// TestSetcapUnprivileged runs the command, built without cgo as the
// example image builds it, with cap_net_raw+ep as the user nobody: the raw engine starts, the effective
// set is then empty (the bounding set stays: without CAP_SETPCAP it cannot
// be dropped, and no_new_privs keeps exec from using it), and the scan
// succeeds, the late link's target included. The copy without the file
// capability (the negative control) cannot start the raw engine.
func TestSetcapUnprivileged(t *testing.T) {
	testnet.RequirePrivileges(t)
	requirePrivTools(t)
	bin := buildCommand(t, false)
	n := testnet.New(t)
	n.Listen(t, "tcp", ":80")
	asNobody := []string{"setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "--"}

	open := netip.AddrPortFrom(n.Answering4.Addr().Next(), 80).String()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ctl := n.ProberCmd(ctx, asNobody[0], append(append(asNobody[1:], bin), "--engine", "raw", open)...)
	out, err := ctl.CombinedOutput()
	if code := ctl.ProcessState.ExitCode(); code != exitRuntime || !strings.Contains(string(out), "CAP_NET_RAW") {
		t.Fatalf("nobody without the file capability: exit %d (%v), want %d naming CAP_NET_RAW\n%s", code, err, exitRuntime, out)
	}

	if out, err := exec.Command("setcap", "cap_net_raw+ep", bin).CombinedOutput(); err != nil {
		t.Fatalf("setcap: %v\n%s", err, out)
	}
	sts, code, stdout, stderr := lateWaitScan(t, n, bin, asNobody...)
	for i, st := range sts {
		if st.Effective != 0 || st.Permitted != 0 || st.Ambient != 0 || !st.NoNewPrivs {
			t.Errorf("thread %d while probing: %+v, want nothing effective, permitted or ambient, and no_new_privs", i, st)
		}
	}
	if code != 0 {
		t.Fatalf("exit %d, want 0\n%s\n%s", code, stdout, stderr)
	}
	late := netip.AddrPortFrom(lateTarget, 80).String()
	if got := jsonlStates(t, stdout); got[open] != "open" || got[late] != "open" {
		t.Errorf("states %v, want %s and %s open\n%s\n%s", got, open, late, stdout, stderr)
	}
}

// TestServeDropsCapabilities runs the built command's exporter as root in
// the prober namespace: once its engines and listener are open no thread
// has a capability, and its syn module still probes, also a target behind
// a link added afterwards.
func TestServeDropsCapabilities(t *testing.T) {
	testnet.RequirePrivileges(t)
	bin := buildCommand(t, true)
	n := testnet.New(t)
	n.Listen(t, "tcp", ":80")
	addr := "127.0.0.1:19116"
	cmd := exec.Command("ip", "netns", "exec", n.ProberNS, bin, "serve", "--web.listen-address", addr)
	logs := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	c := proberClient(n, 5*time.Second)
	exited := runExporter(t, cmd, addr, logs, c)
	sts := waitDropped(t, cmd, bin, exited)
	for i, st := range sts {
		if st != (privdrop.Status{NoNewPrivs: true}) {
			t.Errorf("exporter thread %d: %+v, want every set empty and no_new_privs", i, st)
		}
	}
	e := &exporterProc{addr: addr, stderr: logs}
	probe := func(target netip.AddrPort) probeResult {
		t.Helper()
		r, err := getProbe(context.Background(), c, e, target.String(), "syn", "")
		if err != nil || r.code != http.StatusOK {
			t.Fatalf("probe %v: %v (HTTP %d)\n%s", target, err, r.code, r.body)
		}
		return r
	}
	if r := probe(netip.AddrPortFrom(n.Answering4.Addr().Next(), 80)); r.metrics["probe_success"] != 1 {
		t.Errorf("open target: probe_success %v\n%s", r.metrics["probe_success"], r.body)
	}
	late := netip.AddrPortFrom(lateTarget, 80)
	if r := probe(late); r.metrics["probe_syn_state"] != 4 {
		t.Errorf("late target before its link: probe_syn_state %v, want 4 (noroute)\n%s", r.metrics["probe_syn_state"], r.body)
	}
	addLateLink(t, n)
	// The link takes a moment to carry frames; the route is there at once.
	var r probeResult
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if r = probe(late); r.metrics["probe_success"] == 1 {
			break
		}
	}
	if r.metrics["probe_success"] != 1 {
		t.Errorf("late target after its link: probe_success %v, probe_syn_state %v\n%s", r.metrics["probe_success"], r.metrics["probe_syn_state"], r.body)
	}
}

// TestDemoDropsCapabilities runs the built command's demo as root: its
// prober drops every capability but the two its clean-up needs (Drop
// checks every thread and the demo fails if one kept an effective
// capability), the verdict is PASS, and the namespaces are removed with
// what it kept.
func TestDemoDropsCapabilities(t *testing.T) {
	testnet.RequirePrivileges(t)
	bin := buildCommand(t, true)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "demo").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "verdict: PASS") {
		t.Fatalf("demo: %v\n%s", err, out)
	}
	m := regexp.MustCompile(`namespaces (\S+) \(prober\) and (\S+) \(target\)`).FindStringSubmatch(string(out))
	if m == nil {
		t.Fatalf("the demo did not run in namespaces:\n%s", out)
	}
	list, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, ns := range m[1:] {
		if strings.Contains(string(list), ns) {
			t.Errorf("namespace %s left behind after the demo dropped its capabilities:\n%s", ns, list)
			exec.Command("ip", "netns", "del", ns).Run()
		}
	}
}
