package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/rawprobe/rawprobe/internal/verify/golden/record"
	"github.com/rawprobe/rawprobe/internal/verify/netlab"
)

// settle is how long a run waits after its system ends before reading
// the counters, so that the last replies and RSTs are counted.
const settle = time.Second

// bench builds the network, measures every system and writes the report.
func bench(c config) (err error) {
	if os.Geteuid() != 0 {
		return errors.New("needs root (network namespaces, raw sockets, apt-get); run `sudo make bench`")
	}
	if c.install {
		installTools()
	}
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	m := describeMachine()
	// Remove the network on every way out, an interrupt included.
	n, _, remove, err := record.SetupNetwork() // the open port; its accepts are not read
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, remove()) }()
	if err := addCounters(n); err != nil {
		return err
	}
	// net.Dialer leaves TIME_WAIT sockets in the prober for a minute; a
	// later system's SYN that happens to reuse one of their 4-tuples gets
	// its SYN-ACK answered with an ACK by the prober's kernel, charged to
	// that system. Dialing from an address of its own avoids that.
	dialSrc := n.ProberAddr4.Next().Next()
	if err := ipIn(n.ProberNS, "addr", "add", dialSrc.String()+"/24", "dev", n.ProberLink); err != nil {
		return err
	}
	if err := record.WaitReady(n, 10*time.Second); err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "benchcmp-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	targetsFile := filepath.Join(dir, "targets.txt")
	first, last, err := writeTargets(targetsFile, n.Answering4, c.targets)
	if err != nil {
		return err
	}
	b := &bencher{c: c, n: n, exe: exe, dir: dir, targetsFile: targetsFile, dialSrc: dialSrc}
	routerMAC, err := targetMAC(n)
	if err != nil {
		return err
	}
	b.routerMAC = routerMAC

	rep := report{machine: m, c: c, first: first, last: last, versions: toolVersions()}
	for _, loss := range []float64{0, c.loss} {
		if err := n.SetLoss(loss); err != nil {
			return err
		}
		t := table{loss: loss, rows: make(map[string][]sample)}
		for run := range c.runs {
			// Round robin, so that the machine's other load spreads
			// over every system.
			for _, s := range c.systems {
				if !b.available(s) {
					continue
				}
				smp := b.measure(s)
				fmt.Fprintf(os.Stderr, "loss %3.0f%% run %d %-9s %s\n", loss*100, run+1, s, smp)
				t.rows[s] = append(t.rows[s], smp)
			}
		}
		rep.tables = append(rep.tables, t)
	}
	if err := n.SetLoss(0); err != nil {
		return err
	}
	if c.timing {
		if rep.timing, err = b.timing(); err != nil {
			return err
		}
	}
	rep.loadAfter = loadAverage()
	if err := os.WriteFile(c.out, rep.markdown(), 0o644); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "wrote %s\n", c.out)
	return nil
}

// bencher runs the systems in a network.
type bencher struct {
	c           config
	n           *netlab.Net
	exe         string
	dir         string
	targetsFile string
	routerMAC   string
	dialSrc     netip.Addr // the net.Dialer worker's own source address
}

// available reports whether the system can run here (the external tools
// are installed).
func (b *bencher) available(s string) bool {
	switch s {
	case sysNmap, sysMasscan, sysHping:
		return haveTool(s)
	}
	return true
}

// measure runs system s once.
func (b *bencher) measure(s string) sample {
	before, err := readCounters(b.n)
	if err != nil {
		return sample{err: err.Error()}
	}
	ctx, cancel := context.WithTimeout(context.Background(), b.c.runTimeout)
	defer cancel()
	var cmd *exec.Cmd
	outFile := filepath.Join(b.dir, s+".out")
	os.Remove(outFile)
	rssFile := filepath.Join(b.dir, s+".rss")
	os.Remove(rssFile)
	port := strconv.Itoa(record.OpenPort)
	switch s {
	case sysRawcheck, sysCompat, sysDial:
		args := []string{"-worker", s, "-worker-targets", b.targetsFile, "-worker-port", port,
			"-concurrency", strconv.Itoa(b.c.concurrency), "-run-timeout", b.c.runTimeout.String()}
		if s == sysDial {
			args = append(args, "-worker-source", b.dialSrc.String())
		}
		cmd = b.n.ProberCmd(ctx, b.exe, args...)
	case sysNmap:
		cmd = b.toolCmd(ctx, rssFile, "nmap", "-sS", "-Pn", "-n", "-T5", "-p", port, "-iL", b.targetsFile,
			"--min-rate", strconv.Itoa(b.c.nmapMinRate), "--max-retries", "2", "--initial-rtt-timeout", "100ms",
			"--max-rtt-timeout", "500ms", "--min-hostgroup", "4096", "-e", b.n.ProberLink, "-oG", outFile)
	case sysMasscan:
		cmd = b.toolCmd(ctx, rssFile, "masscan", "-p", port, "-iL", b.targetsFile, "--rate", strconv.Itoa(b.c.masscanRate),
			"--wait", "1", "--interface", b.n.ProberLink, "--router-mac", b.routerMAC, "-oL", outFile)
	case sysHping:
		wild := b.n.Answering4.Addr().As4()
		cmd = b.toolCmd(ctx, rssFile, "hping3", "-q", "-S", "-p", port, "--flood", "--rand-dest", "-I", b.n.ProberLink,
			fmt.Sprintf("%d.%d.x.x", wild[0], wild[1]))
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = 5 * time.Second
	start := time.Now()
	if s == sysHping {
		// A flood of fixed length, ended with SIGINT to its process
		// group (GNU time, if it wraps hping3, ignores SIGINT itself).
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		interrupt := func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGINT) }
		cmd.Cancel = interrupt
		if err = cmd.Start(); err == nil {
			time.Sleep(b.c.floodFor)
			interrupt()
			err = cmd.Wait()
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				err = nil // hping3 exits non-zero when interrupted
			}
		}
	} else {
		err = cmd.Run()
	}
	elapsed := time.Since(start)
	if s == sysHping {
		elapsed = b.c.floodFor
	}
	time.Sleep(settle)
	after, cerr := readCounters(b.n)
	smp := sample{secs: elapsed.Seconds(), probes: b.c.targets}
	// The external tools' peak RSS as GNU time saw it (0: unknown); the
	// Go workers report their own below.
	smp.rssKB = readTimeRSS(rssFile)
	if err != nil || cerr != nil {
		smp.err = fmt.Sprint(errors.Join(err, cerr), " ", lastLine(stderr.String()))
		return smp
	}
	d := after.minus(before)
	smp.acks, smp.synacks, smp.opens, smp.syns = d.ackIn, d.synackOut, d.passiveOpens, d.synIn
	switch s {
	case sysRawcheck, sysCompat, sysDial:
		smp.found, smp.rssKB, err = workerFound(stdout.Bytes())
	case sysNmap:
		smp.found, err = countUnique(outFile, nmapOpen)
	case sysMasscan:
		smp.found, err = countUnique(outFile, masscanOpen)
		smp.note = "masscan's own status: " + lastLine(stderr.String())
	case sysHping:
		// The ceiling: SYNs in, SYN-ACKs out, per second.
		smp.probes, smp.found = int(d.synIn), int(d.synackOut)
	}
	if err != nil {
		smp.err = err.Error()
	}
	if smp.secs > 0 {
		n := float64(smp.probes)
		if s == sysHping {
			n = float64(smp.found)
		}
		smp.rate = n / smp.secs
	}
	return smp
}

// lastLine returns the end of a tool's last line of output (progress
// reports end in carriage returns), at most 200 bytes.
func lastLine(s string) string {
	lines := strings.FieldsFunc(strings.TrimSpace(s), func(r rune) bool { return r == '\n' || r == '\r' })
	if len(lines) == 0 {
		return ""
	}
	l := strings.TrimSpace(lines[len(lines)-1])
	if len(l) > 200 {
		l = "..." + l[len(l)-200:]
	}
	return l
}

// writeTargets writes count addresses of p, starting 256 addresses in
// (clear of the addresses other code uses), one per line.
func writeTargets(path string, p netip.Prefix, count int) (first, last netip.Addr, err error) {
	var b strings.Builder
	a := p.Masked().Addr()
	for range 256 {
		a = a.Next()
	}
	first = a
	for range count {
		if !p.Contains(a) {
			return first, last, fmt.Errorf("%d targets do not fit in %v", count, p)
		}
		b.WriteString(a.String() + "\n")
		last, a = a, a.Next()
	}
	return first, last, os.WriteFile(path, []byte(b.String()), 0o644)
}

// targetMAC returns the MAC address of the target's end of the link, the
// prober's next hop, for masscan (the prober has no default route whose
// gateway masscan could resolve).
func targetMAC(n *netlab.Net) (string, error) {
	var mac string
	err := n.InTarget(func() error {
		ifi, err := net.InterfaceByName(n.TargetLink)
		if err != nil {
			return err
		}
		mac = ifi.HardwareAddr.String()
		return nil
	})
	return mac, err
}

// ipIn runs `ip -n ns args...`.
func ipIn(ns string, args ...string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ip", append([]string{"-n", ns}, args...)...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip -n %s %s: %v: %s", ns, strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return nil
}

// installTools installs the missing external tools with apt-get.
func installTools() {
	var missing []string
	for _, t := range []string{sysNmap, sysMasscan, sysHping, "zmap", timeTool} {
		if !haveTool(t) {
			missing = append(missing, t)
		}
	}
	if len(missing) == 0 {
		return
	}
	if _, err := exec.LookPath("apt-get"); err != nil {
		fmt.Fprintf(os.Stderr, "benchcmp: %s missing and no apt-get: those rows are left out\n", strings.Join(missing, ", "))
		return
	}
	fmt.Fprintf(os.Stderr, "benchcmp: installing %s\n", strings.Join(missing, " "))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	install := func() error {
		return exec.CommandContext(ctx, "apt-get", append([]string{"install", "-y", "-q"}, missing...)...).Run()
	}
	if install() != nil {
		exec.CommandContext(ctx, "apt-get", "update", "-q").Run()
		if err := install(); err != nil {
			fmt.Fprintf(os.Stderr, "benchcmp: apt-get install %s: %v: those rows are left out\n", strings.Join(missing, " "), err)
		}
	}
}

// timeTool is GNU time, which measures the external tools' peak RSS.
const timeTool = "time"

// toolCmd returns the command running external tool name with args in the
// prober namespace, under GNU time writing its peak RSS to rssFile when
// GNU time is installed. (The tool's own ru_maxrss, from wait4, would be
// at least benchcmp's: see workerreport.)
func (b *bencher) toolCmd(ctx context.Context, rssFile, name string, args ...string) *exec.Cmd {
	if !haveTool(timeTool) {
		return b.n.ProberCmd(ctx, name, args...)
	}
	return b.n.ProberCmd(ctx, timeTool, append([]string{"-f", "%M", "-o", rssFile, name}, args...)...)
}

// readTimeRSS returns the peak RSS in KiB that GNU time wrote to file (its
// last line; a line before it says when the tool died of a signal), or 0
// when there is none.
func readTimeRSS(file string) int64 {
	b, err := os.ReadFile(file)
	if err != nil {
		return 0
	}
	lines := strings.Fields(strings.TrimSpace(string(b)))
	if len(lines) == 0 {
		return 0
	}
	kb, err := strconv.ParseInt(lines[len(lines)-1], 10, 64)
	if err != nil {
		return 0
	}
	return kb
}
