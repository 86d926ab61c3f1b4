package netlab

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// nsPrefix starts the name of every namespace Setup creates. The full
// name is rp-<creator pid>-<unix seconds, hex>-<random hex>-p or -t, which
// lets RemoveStale recognise namespaces left behind by a process that
// died without removing them.
const nsPrefix = "rp-"

// staleAge is how old a namespace whose creator process is gone must be
// before RemoveStale removes it. (A test binary killed by -test.timeout
// runs no cleanup and leaves its namespaces behind.)
const staleAge = 2 * time.Minute

// The veth ends' MAC addresses (locally administered). Every Net uses the
// same two: each pair is alone in its namespaces.
const (
	proberMAC = "02:72:70:00:00:01"
	targetMAC = "02:72:70:00:00:02"
)

// cmdTimeout bounds every ip/nft command that building and removing a
// network run.
const cmdTimeout = 30 * time.Second

// newNames returns a Net with fresh, unique namespace and link names and
// the fixed addresses and prefixes; nothing exists yet.
func newNames() *Net {
	id := randomHex(4)
	base := fmt.Sprintf("%s%d-%x-%s", nsPrefix, os.Getpid(), time.Now().Unix(), id)
	return &Net{
		ProberNS:     base + "-p",
		TargetNS:     base + "-t",
		ProberLink:   "rp" + id + "p",
		TargetLink:   "rp" + id + "t",
		ProberAddr4:  proberAddr4,
		TargetAddr4:  targetAddr4,
		ProberAddr6:  proberAddr6,
		TargetAddr6:  targetAddr6,
		Answering4:   answering4,
		Answering6:   answering6,
		Silent4:      silent4,
		Silent6:      silent6,
		Unreachable4: unreachable4,
		Unreachable6: unreachable6,
	}
}

// build creates the namespaces and everything in them.
func (n *Net) build() error {
	for _, ns := range []string{n.ProberNS, n.TargetNS} {
		if err := run(nil, "ip", "netns", "add", ns); err != nil {
			return err
		}
	}
	// No duplicate address detection: it would hold IPv6 (link-local
	// addresses, hence neighbour discovery) back for a second.
	noDAD := func() error { return writeSysctls(noDADSysctls) }
	if err := n.InProber(noDAD); err != nil {
		return err
	}
	if err := n.InTarget(noDAD); err != nil {
		return err
	}
	gw4, gw6 := n.TargetAddr4.String(), n.TargetAddr6.String()
	prober := []string{
		// The veth is born in the prober namespace and its peer goes
		// straight into the target: the host namespace never sees it.
		fmt.Sprintf("link add %s address %s type veth peer name %s address %s netns %s",
			n.ProberLink, proberMAC, n.TargetLink, targetMAC, n.TargetNS),
		"link set lo up",
		fmt.Sprintf("link set %s up", n.ProberLink),
		fmt.Sprintf("addr add %s/%d dev %s", n.ProberAddr4, linkPrefix4, n.ProberLink),
		fmt.Sprintf("addr add %s/%d dev %s nodad", n.ProberAddr6, linkPrefix6, n.ProberLink),
		// Permanent neighbours: no ARP or neighbour discovery to wait
		// for, lose under load, or overflow the queue of packets waiting
		// for it when a test floods SYNs.
		fmt.Sprintf("neigh replace %s lladdr %s dev %s nud permanent", n.TargetAddr4, targetMAC, n.ProberLink),
		fmt.Sprintf("neigh replace %s lladdr %s dev %s nud permanent", n.TargetAddr6, targetMAC, n.ProberLink),
	}
	for _, p := range []string{n.Answering4.String(), n.Silent4.String(), n.Unreachable4.String()} {
		prober = append(prober, fmt.Sprintf("route add %s via %s dev %s", p, gw4, n.ProberLink))
	}
	for _, p := range []string{n.Answering6.String(), n.Silent6.String(), n.Unreachable6.String()} {
		prober = append(prober, fmt.Sprintf("route add %s via %s dev %s", p, gw6, n.ProberLink))
	}
	if err := ipBatch(n.ProberNS, prober); err != nil {
		return err
	}
	target := []string{
		"link set lo up",
		fmt.Sprintf("link set %s up", n.TargetLink),
		fmt.Sprintf("addr add %s/%d dev %s", n.TargetAddr4, linkPrefix4, n.TargetLink),
		fmt.Sprintf("addr add %s/%d dev %s nodad", n.TargetAddr6, linkPrefix6, n.TargetLink),
		fmt.Sprintf("neigh replace %s lladdr %s dev %s nud permanent", n.ProberAddr4, proberMAC, n.TargetLink),
		fmt.Sprintf("neigh replace %s lladdr %s dev %s nud permanent", n.ProberAddr6, proberMAC, n.TargetLink),
	}
	// All three prefixes are local in the target; nft decides what the
	// silent and unreachable ones get.
	for _, p := range []string{n.Answering4.String(), n.Silent4.String(), n.Unreachable4.String()} {
		target = append(target, fmt.Sprintf("route add local %s dev lo", p))
	}
	for _, p := range []string{n.Answering6.String(), n.Silent6.String(), n.Unreachable6.String()} {
		target = append(target, fmt.Sprintf("route add local %s dev lo", p))
	}
	if err := ipBatch(n.TargetNS, target); err != nil {
		return err
	}
	rules := fmt.Sprintf(`table inet rawprobe {
	chain input {
		type filter hook input priority 0; policy accept;
		ip daddr %s drop
		ip6 daddr %s drop
		ip daddr %s reject with icmp type host-unreachable
		ip6 daddr %s reject with icmpv6 type addr-unreachable
	}
}
`, n.Silent4, n.Silent6, n.Unreachable4, n.Unreachable6)
	if err := n.nft(rules); err != nil {
		return err
	}
	if err := n.InTarget(func() error { return writeSysctls(targetSysctls) }); err != nil {
		return err
	}
	return n.waitRunning()
}

// linkTimeout bounds the wait for the veth pair to come up.
const linkTimeout = 10 * time.Second

// waitRunning waits until both ends of the veth are operationally up.
// Until the kernel's link watcher (which runs at most about once a second
// and serves every namespace) has processed the carrier change, a new
// link's queueing discipline is noop: it drops every frame, and a raw
// socket's sendto still succeeds. A one-shot raw SYN would vanish.
func (n *Net) waitRunning() error {
	deadline := time.Now().Add(linkTimeout)
	for _, side := range []struct {
		in   func(func() error) error
		link string
	}{{n.InProber, n.ProberLink}, {n.InTarget, n.TargetLink}} {
		for {
			var running bool
			err := side.in(func() error {
				ifi, err := net.InterfaceByName(side.link)
				if err != nil {
					return err
				}
				running = ifi.Flags&net.FlagRunning != 0
				return nil
			})
			if err != nil {
				return err
			}
			if running {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("link %s not running after %v", side.link, linkTimeout)
			}
			time.Sleep(2 * time.Millisecond)
		}
	}
	return nil
}

// sysctl is a /proc/sys path and the value to write there.
type sysctl struct{ path, value string }

// noDADSysctls turn off IPv6 duplicate address detection for links made
// afterwards, in the namespace of the thread that writes them.
var noDADSysctls = []sysctl{
	{"net/ipv6/conf/all/accept_dad", "0"},
	{"net/ipv6/conf/default/accept_dad", "0"},
}

// targetSysctls are set in the target namespace only; each of them is
// per network namespace on Linux 6.x. They let the target answer the
// hundreds of thousands of SYNs load tests send without queue overflows
// or ICMP rate limits distorting the results.
var targetSysctls = []sysctl{
	// SYN queue and accept queue: a listener's SYN queue is bounded by its
	// backlog, itself capped by somaxconn.
	{"net/core/somaxconn", "65535"},
	{"net/ipv4/tcp_max_syn_backlog", "262144"},
	// Syncookies on overflow only (the default, set explicitly): an
	// overflowing SYN queue still answers SYN-ACK instead of dropping.
	{"net/ipv4/tcp_syncookies", "1"},
	// No per-peer or global ICMP rate limit, so every SYN to an
	// unreachable address gets its ICMP error.
	{"net/ipv4/icmp_ratelimit", "0"},
	{"net/ipv4/icmp_msgs_per_sec", "10000000"},
	{"net/ipv4/icmp_msgs_burst", "10000000"},
	{"net/ipv6/icmp/ratelimit", "0"},
}

// writeSysctls writes sysctls; it runs on a thread inside a network
// namespace of a Net, where /proc/sys/net is that namespace's, never the host's.
func writeSysctls(sysctls []sysctl) error {
	for _, s := range sysctls {
		if err := os.WriteFile(filepath.Join("/proc/sys", s.path), []byte(s.value), 0); err != nil {
			return fmt.Errorf("sysctl %s=%s: %w", strings.ReplaceAll(s.path, "/", "."), s.value, err)
		}
	}
	return nil
}

// nft loads rules into the target namespace's nftables.
func (n *Net) nft(rules string) error {
	return run(strings.NewReader(rules), "ip", "netns", "exec", n.TargetNS, "nft", "-f", "-")
}

// remove kills what runs in the namespaces and deletes them (and with
// them the veth pair, routes, nft tables and sysctls).
func (n *Net) remove() error {
	var errs []string
	for _, ns := range []string{n.ProberNS, n.TargetNS} {
		if _, err := os.Stat(filepath.Join("/run/netns", ns)); err != nil {
			continue // never created
		}
		killIn(ns)
	}
	// Delete the veth explicitly: a socket leaked by a test keeps its
	// namespace alive after `ip netns del`, and the link with it.
	_ = run(nil, "ip", "-n", n.ProberNS, "link", "del", n.ProberLink)
	for _, ns := range []string{n.ProberNS, n.TargetNS} {
		if _, err := os.Stat(filepath.Join("/run/netns", ns)); err != nil {
			continue
		}
		if err := run(nil, "ip", "netns", "del", ns); err != nil {
			errs = append(errs, err.Error())
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return nil
}

// killIn kills every process left in namespace ns (never this one).
func killIn(ns string) {
	out, err := output("ip", "netns", "pids", ns)
	if err != nil {
		return
	}
	for _, f := range strings.Fields(out) {
		pid, err := strconv.Atoi(f)
		if err != nil || pid == os.Getpid() || pid <= 1 {
			continue
		}
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
}

// RemoveStale deletes the namespaces that a process which died without
// removing them left behind: named by Setup, created more than two minutes
// ago by a process that no longer exists. Namespaces of running processes
// are never touched. It returns the names of the namespaces it removed.
func RemoveStale() (removed []string) {
	entries, err := os.ReadDir("/run/netns")
	if err != nil {
		return nil
	}
	for _, e := range entries {
		name := e.Name()
		rest, ok := strings.CutPrefix(name, nsPrefix)
		if !ok {
			continue
		}
		f := strings.Split(rest, "-")
		if len(f) != 4 || (f[3] != "p" && f[3] != "t") {
			continue
		}
		pid, err1 := strconv.Atoi(f[0])
		created, err2 := strconv.ParseInt(f[1], 16, 64)
		if err1 != nil || err2 != nil || pid <= 0 {
			continue
		}
		if time.Since(time.Unix(created, 0)) < staleAge {
			continue
		}
		if err := syscall.Kill(pid, 0); err == nil || err == syscall.EPERM {
			continue // its creator still runs
		}
		killIn(name)
		if err := run(nil, "ip", "netns", "del", name); err == nil {
			removed = append(removed, name)
		}
	}
	return removed
}

// ipBatch runs ip commands, one per line, in namespace ns.
func ipBatch(ns string, cmds []string) error {
	return run(strings.NewReader(strings.Join(cmds, "\n")+"\n"), "ip", "-n", ns, "-batch", "-")
}

// run runs a command with stdin, returning an error with its output when it
// fails.
func run(stdin *strings.Reader, name string, args ...string) error {
	ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	if stdin != nil {
		cmd.Stdin = stdin
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %v: %s", name, strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return nil
}

// output runs a command and returns its standard output.
func output(name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).Output()
	return string(out), err
}

// randomHex returns n random bytes in hex.
func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}
