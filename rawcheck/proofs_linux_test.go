package rawcheck

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
	"golang.org/x/sys/unix"

	"github.com/rawprobe/rawprobe/internal/verify/netlab"
	"github.com/rawprobe/rawprobe/internal/verify/testnet"
	"github.com/rawprobe/rawprobe/synack"
)

// forgedReply builds an IPv4 TCP segment from src to dst with the given
// flags, sequence and acknowledgment numbers.
func forgedReply(src, dst netip.AddrPort, flags uint8, seq, ack uint32) []byte {
	b := make([]byte, 40)
	b[0] = 0x45
	binary.BigEndian.PutUint16(b[2:], 40)
	b[8], b[9] = 64, 6
	s, d := src.Addr().As4(), dst.Addr().As4()
	copy(b[12:16], s[:])
	copy(b[16:20], d[:])
	binary.BigEndian.PutUint16(b[10:], synack.Checksum(b[:20]))
	tcp := b[20:]
	binary.BigEndian.PutUint16(tcp[0:], src.Port())
	binary.BigEndian.PutUint16(tcp[2:], dst.Port())
	binary.BigEndian.PutUint32(tcp[4:], seq)
	binary.BigEndian.PutUint32(tcp[8:], ack)
	tcp[12] = 5 << 4
	tcp[13] = flags
	binary.BigEndian.PutUint16(tcp[14:], 64240)
	pseudo := make([]byte, 12, 32)
	copy(pseudo[0:4], s[:])
	copy(pseudo[4:8], d[:])
	pseudo[9] = 6
	binary.BigEndian.PutUint16(pseudo[10:], 20)
	binary.BigEndian.PutUint16(tcp[16:], synack.Fold(synack.Sum(tcp, synack.Sum(pseudo, 0))))
	return b
}

// TestForgedReplies sends SYN-ACKs and RSTs with wrong acknowledgment
// numbers from the target namespace, for the exact silent targets and
// source port of pending probes: none may be reported, all count as
// invalid and the probes end as Timeout. A correctly acknowledged forgery
// for one more target is the positive control: it must be reported open.
func TestForgedReplies(t *testing.T) {
	n := testnet.New(t)
	const sport = 61500
	p := newInProber(t, n, Config{SourcePorts: [2]uint16{sport, sport}, Timeout: 1500 * time.Millisecond, Attempts: 1})
	var targets []netip.AddrPort
	for i := range 20 {
		targets = append(targets, netip.AddrPortFrom(netlab.Nth(n.Silent4, 20+i), 80))
	}
	control := netip.AddrPortFrom(netlab.Nth(n.Silent4, 100), 80)
	done := make(chan error, 1)
	results := map[netip.AddrPort]Result{}
	go func() {
		done <- p.Scan(context.Background(), slices.Values(append(slices.Clone(targets), control)), func(r Result) { results[r.Target] = r })
	}()
	for deadline := time.Now().Add(5 * time.Second); p.Stats().Sent < uint64(len(targets)+1); {
		if time.Now().After(deadline) {
			t.Fatal("the SYNs were not sent")
		}
		time.Sleep(5 * time.Millisecond)
	}
	prober := netip.AddrPortFrom(n.ProberAddr4, sport)
	controlNonce, ok := pendingNonce(p, control, sport)
	if !ok {
		t.Fatal("the control's probe is not pending")
	}
	rng := rand.New(rand.NewPCG(3, 4))
	forged := 0
	err := n.InTarget(func() error {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_RAW, unix.IPPROTO_RAW)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		send := func(pkt []byte, dst netip.Addr) error {
			return unix.Sendto(fd, pkt, 0, &unix.SockaddrInet4{Addr: dst.As4()})
		}
		for _, tg := range targets {
			good := p.e.key.Cookie(n.ProberAddr4, tg.Addr(), sport, tg.Port()) + 1 // without the nonce: wrong too
			for _, flags := range []uint8{synack.FlagSYN | synack.FlagACK, synack.FlagRST | synack.FlagACK} {
				for range 2 {
					ack := rng.Uint32()
					if ack == good {
						ack++
					}
					if err := send(forgedReply(tg, prober, flags, rng.Uint32(), ack), prober.Addr()); err != nil {
						return err
					}
					forged++
				}
			}
		}
		// The control's SYN-ACK comes twice: one result, one late reply.
		good := p.e.key.Sequence(n.ProberAddr4, control.Addr(), sport, control.Port(), controlNonce) + 1
		for range 2 {
			if err := send(forgedReply(control, prober, synack.FlagSYN|synack.FlagACK, 1, good), prober.Addr()); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	for _, tg := range targets {
		if r := results[tg]; r.State != Timeout {
			t.Errorf("%v: %+v, want timeout", tg, r)
		}
	}
	if r := results[control]; r.State != Open {
		t.Errorf("control %v with the right cookie: %+v, want open", control, r)
	}
	st := p.Stats()
	if st.Invalid != uint64(forged) || st.Open != 1 || st.Late != 1 || st.Timeouts != uint64(len(targets)) {
		t.Errorf("stats %+v: want %d invalid, 1 open, 1 late, %d timeouts", st, forged, len(targets))
	}
	if len(results) != len(targets)+1 {
		t.Errorf("%d results, want %d", len(results), len(targets)+1)
	}
}

// setPortRange sets the prober namespace's ephemeral port range.
func setPortRange(t *testing.T, n *testnet.Net, lo, hi int) {
	t.Helper()
	out, err := n.ProberCmd(context.Background(), "sysctl", "-w", fmt.Sprintf("net.ipv4.ip_local_port_range=%d %d", lo, hi)).CombinedOutput()
	if err != nil {
		t.Fatalf("sysctl: %v: %s", err, out)
	}
}

// dialAll opens up to count connections from the prober namespace to dst,
// keeping them open, and returns their local ports and the first error.
func dialAll(n *testnet.Net, dst netip.AddrPort, count int) (ports []int, conns []net.Conn, err error) {
	err = n.InProber(func() error {
		for range count {
			c, err := net.DialTimeout("tcp", dst.String(), 2*time.Second)
			if err != nil {
				return err
			}
			conns = append(conns, c)
			ports = append(ports, c.LocalAddr().(*net.TCPAddr).Port)
		}
		return nil
	})
	return ports, conns, err
}

// abortAll closes conns with a RST (SO_LINGER 0), so that none of their
// source ports is left in TIME_WAIT: a port in TIME_WAIT towards the same
// destination is not reused by connect(), which would make the control
// below depend on which side of each connection happened to close first.
func abortAll(conns []net.Conn) {
	for _, c := range conns {
		c.(*net.TCPConn).SetLinger(0)
		c.Close()
	}
}

// TestPortReservation shows that while the engine runs, ordinary
// connections never get a source port from its range, even when its range
// lies inside the ephemeral range; and, as the control, that they do once
// it is closed.
func TestPortReservation(t *testing.T) {
	n := testnet.New(t)
	n.Listen(t, "tcp", ":80")
	setPortRange(t, n, 40000, 40015)
	dst := netip.AddrPortFrom(netlab.Nth(n.Answering4, 3), 80)
	p := newInProber(t, n, Config{SourcePorts: [2]uint16{40000, 40007}, ForceSourcePorts: true})
	ports, conns, err := dialAll(n, dst, 9)
	abortAll(conns)
	if len(ports) != 8 || !errors.Is(err, syscall.EADDRNOTAVAIL) {
		t.Errorf("with the engine: %d connections then %v; want 8, then EADDRNOTAVAIL", len(ports), err)
	}
	for _, port := range ports {
		if port <= 40007 {
			t.Errorf("a connection got source port %d, inside the engine's range 40000-40007", port)
		}
	}
	// An explicit bind cannot take a reserved port either.
	err = n.InProber(func() error {
		l, err := net.Listen("tcp4", "0.0.0.0:40003")
		if err == nil {
			l.Close()
		}
		return err
	})
	if !errors.Is(err, syscall.EADDRINUSE) {
		t.Errorf("bind to a reserved port: %v, want EADDRINUSE", err)
	}
	// Control: once closed, the whole range is available.
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	ports, conns, err = dialAll(n, dst, 16)
	abortAll(conns)
	low := 0
	for _, port := range ports {
		if port <= 40007 {
			low++
		}
	}
	if err != nil || low != 8 {
		t.Errorf("after Close: %d connections (%d in 40000-40007), error %v; want 16 with 8 low", len(ports), low, err)
	}
}

// openFDs returns what each open file descriptor of the process refers to.
func openFDs(t *testing.T) map[string]string {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	fds := map[string]string{}
	for _, e := range ents {
		fds[e.Name()], _ = os.Readlink("/proc/self/fd/" + e.Name())
	}
	return fds
}

// TestCloseReleasesAndCancel checks that a Scan returns promptly when its
// ctx is cancelled, and that Close gives back every fd, goroutine and
// source port; Close is idempotent and later calls fail with ErrClosed.
func TestCloseReleasesAndCancel(t *testing.T) {
	n := testnet.New(t)
	n.Listen(t, "tcp", ":80")
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	fds := openFDs(t)
	var p *Prober
	if err := n.InProber(func() (err error) {
		p, err = New(Config{SourcePorts: [2]uint16{61200, 61263}, Timeout: 10 * time.Second})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if r, err := p.Probe(context.Background(), netip.AddrPortFrom(netlab.Nth(n.Answering4, 1), 80)); err != nil || r.State != Open {
		t.Fatalf("Probe: %+v, %v", r, err)
	}
	if len(openFDs(t)) <= len(fds) {
		t.Fatal("New opened no fd (control)")
	}
	// Cancel a Scan of silent targets whose attempts last 10s.
	var targets []netip.AddrPort
	for i := range 200 {
		targets = append(targets, netip.AddrPortFrom(netlab.Nth(n.Silent4, i+1), 80))
	}
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(200*time.Millisecond, cancel)
	start := time.Now()
	results := 0
	err := p.Scan(ctx, slices.Values(targets), func(Result) { results++ })
	took := time.Since(start) - 200*time.Millisecond
	t.Logf("Scan returned %v after cancel", took)
	if !errors.Is(err, context.Canceled) || results != 0 {
		t.Errorf("cancelled Scan: %v with %d results, want context.Canceled and none", err, results)
	}
	if took > time.Second {
		t.Errorf("Scan took %v to return after cancel, want well under a second", took)
	}
	// A yield that panics leaves nothing running behind it.
	panicked := func() (v any) {
		defer func() { v = recover() }()
		p.Scan(context.Background(), slices.Values([]netip.AddrPort{netip.AddrPortFrom(netlab.Nth(n.Answering4, 2), 80)}), func(Result) { panic("yield") })
		return nil
	}()
	if panicked != "yield" {
		t.Errorf("Scan with a panicking yield: recovered %v", panicked)
	}
	// A Probe blocked on a silent target ends with ErrClosed on Close.
	probeErr := make(chan error, 1)
	go func() {
		_, err := p.Probe(context.Background(), netip.AddrPortFrom(netlab.Nth(n.Silent4, 250), 80))
		probeErr <- err
	}()
	time.Sleep(50 * time.Millisecond)
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-probeErr; !errors.Is(err, ErrClosed) {
		t.Errorf("Probe pending at Close: %v, want ErrClosed", err)
	}
	if err := p.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := p.Probe(context.Background(), targets[0]); !errors.Is(err, ErrClosed) {
		t.Errorf("Probe after Close: %v, want ErrClosed", err)
	}
	// Other tests' cleanups may still be closing fds of their own: give
	// the count a moment to settle before judging.
	got := openFDs(t)
	for deadline := time.Now().Add(2 * time.Second); len(got) != len(fds) && time.Now().Before(deadline); got = openFDs(t) {
		time.Sleep(20 * time.Millisecond)
	}
	if len(got) != len(fds) {
		t.Errorf("%d fds after Close, want %d as before New:\nbefore %v\nafter  %v", len(got), len(fds), fds, got)
	}
	err = n.InProber(func() error {
		for port := 61200; port <= 61263; port++ {
			l, err := net.Listen("tcp", fmt.Sprintf(":%d", port))
			if err != nil {
				return err
			}
			l.Close()
		}
		return nil
	})
	if err != nil {
		t.Errorf("source ports not released: %v", err)
	}
}

const envNoCapChild = "RAWCHECK_TEST_NO_CAP_NET_RAW"

// TestNewWithoutCapNetRaw runs itself again without CAP_NET_RAW (setpriv
// drops it from the bounding set): New must then fail with an error that
// is os.ErrPermission and names CAP_NET_RAW.
func TestNewWithoutCapNetRaw(t *testing.T) {
	if os.Getenv(envNoCapChild) == "1" {
		status, _ := os.ReadFile("/proc/self/status")
		if !strings.Contains(string(status), "CapEff:") {
			t.Fatal("no capability line in /proc/self/status")
		}
		_, err := New(Config{SourcePorts: [2]uint16{63300, 63301}})
		if err == nil {
			t.Fatal("New succeeded without CAP_NET_RAW")
		}
		if !errors.Is(err, os.ErrPermission) || !strings.Contains(err.Error(), "CAP_NET_RAW") {
			t.Fatalf("New: %v; want os.ErrPermission naming CAP_NET_RAW", err)
		}
		var opErr *net.OpError
		if !errors.As(err, &opErr) {
			t.Fatalf("New: %v is no *net.OpError", err)
		}
		t.Logf("New without CAP_NET_RAW: %v", err)
		return
	}
	testnet.RequirePrivileges(t)
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		t.Skipf("setpriv (util-linux) is needed to drop CAP_NET_RAW: %v", err)
	}
	// Control: this process, with CAP_NET_RAW, can open the engine.
	p, err := New(Config{SourcePorts: [2]uint16{63300, 63301}})
	if err != nil {
		t.Fatalf("control New with CAP_NET_RAW: %v", err)
	}
	p.Close()
	cmd := exec.Command(setpriv, "--bounding-set=-net_raw", "--inh-caps=-net_raw", "--",
		os.Args[0], "-test.run=^TestNewWithoutCapNetRaw$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), envNoCapChild+"=1")
	out, err := cmd.CombinedOutput()
	t.Logf("child:\n%s", out)
	if err != nil || !strings.Contains(string(out), "CAP_NET_RAW") {
		t.Fatalf("child without CAP_NET_RAW: %v", err)
	}
}
