package record

import (
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/rawprobe/rawprobe/compat"
	"github.com/rawprobe/rawprobe/internal/verify/golden"
	"github.com/rawprobe/rawprobe/internal/verify/netlab"
	"github.com/rawprobe/rawprobe/internal/verify/pcapcheck"
	"github.com/rawprobe/rawprobe/rawcheck"
	"github.com/rawprobe/rawprobe/synack"
)

// Timings of a recording.
const (
	retransmitAfter = 300 * time.Millisecond // the raw prober's attempt timeout: between its SYNs
	drain           = 300 * time.Millisecond // wait for late packets before stopping the capture
	checkTimeout    = 2 * time.Second        // compat and dial
)

// Record runs d in n, whose target must already listen on OpenPort with l,
// capturing the prober's veth into dir/<name>.pcap. It then checks the
// recording (replay result, pcapcheck verdict, SYN count, connections the
// target accepted, and the golden flags when d has them) against d's
// expectations, and on success writes dir/<name>.txt and returns the
// scenario. The error names every mismatch.
func Record(n *netlab.Net, l *netlab.Listener, d Def, dir string) (golden.Scenario, error) {
	s := d.Expected
	s.Name, s.Description, s.Engine = d.Name, d.Description, d.Engine
	s.Target = d.Target(PrefixesOf(n))
	path := s.PcapPath(dir)
	acceptedBefore := l.Accepted()

	c, err := StartCapture(n, path)
	if err != nil {
		return s, fmt.Errorf("record %s: capture: %w", d.Name, err)
	}
	var runErr error
	switch d.Engine {
	case golden.EngineRaw:
		s.Key, s.HasKey = synack.CookieKey{K0: rand.Uint64(), K1: rand.Uint64()}, true
		src := n.ProberAddr4
		if s.Target.Addr().Is6() {
			src = n.ProberAddr6
		}
		s.Prober = netip.AddrPortFrom(src, d.SourcePort)
		runErr = probeRaw(n, s, d)
	case golden.EngineCompat:
		runErr = probeCompat(n, s.Target)
	case golden.EngineDial:
		runErr = probeDial(n, s.Target)
	default:
		runErr = fmt.Errorf("unknown engine %q", d.Engine)
	}
	if err := c.Stop(); err != nil && runErr == nil {
		runErr = fmt.Errorf("capture: %w", err)
	}
	if runErr != nil {
		os.Remove(path)
		return s, fmt.Errorf("record %s: %w", d.Name, runErr)
	}
	frames, err := golden.ReadFrames(path)
	if err != nil {
		return s, err
	}
	if !s.Prober.IsValid() {
		p, ok := golden.FirstSYN(frames, s.Target)
		if !ok {
			return s, fmt.Errorf("record %s: no SYN to %v captured", d.Name, s.Target)
		}
		s.Prober = p
	}
	if s.HasKey {
		// The prober drew the probe's nonce: it is what the captured
		// SYN's sequence number adds to the cookie.
		isn, ok := golden.FirstSYNSeq(frames, s.Prober, s.Target)
		if !ok {
			return s, fmt.Errorf("record %s: no SYN from %v to %v captured", d.Name, s.Prober, s.Target)
		}
		s.Nonce = isn ^ s.Key.Cookie(s.Prober.Addr(), s.Target.Addr(), s.Prober.Port(), s.Target.Port())
	}
	s.Flags = golden.FlagSequence(frames, s.Prober, s.Target)
	want := l.Accepted() - acceptedBefore
	if d.Expected.Accepted > 0 {
		want = l.WaitAccepted(acceptedBefore+int64(d.Expected.Accepted), time.Second) - acceptedBefore
	}
	if err := verify(d, s, frames, path, int(want)); err != nil {
		return s, fmt.Errorf("record %s: %w (capture kept at %s)", d.Name, err, path)
	}
	if s.Match == "prefix" {
		// Only the start is deterministic: that is the golden sequence.
		s.Flags = d.Expected.Flags
	}
	if err := os.WriteFile(filepath.Join(dir, d.Name+".txt"), s.Marshal(), 0o644); err != nil {
		return s, err
	}
	return s, nil
}

// verify compares a recording with what d expects.
func verify(d Def, s golden.Scenario, frames []golden.Frame, path string, accepted int) error {
	var bad []string
	o, err := golden.ReplayFrames(s, frames)
	if err != nil {
		return err
	}
	e := d.Expected
	if o.State != e.State {
		bad = append(bad, fmt.Sprintf("replayed state %s, want %s", o.State, e.State))
	}
	if o.Reply != e.Reply {
		bad = append(bad, fmt.Sprintf("first reply %s, want %s", o.Reply, e.Reply))
	}
	if got := o.Valid > 0; got != e.Valid {
		bad = append(bad, fmt.Sprintf("valid reply %v, want %v (%d valid, %d invalid)", got, e.Valid, o.Valid, o.Invalid))
	}
	if o.SYNs != e.SYNs {
		bad = append(bad, fmt.Sprintf("%d SYNs, want %d", o.SYNs, e.SYNs))
	}
	if accepted != e.Accepted {
		bad = append(bad, fmt.Sprintf("target accepted %d connections, want %d", accepted, e.Accepted))
	}
	rep, err := pcapcheck.AnalyzeFile(path)
	if err != nil {
		return err
	}
	verdict := "pass"
	if rep.Err() != nil {
		verdict = "fail"
	}
	if verdict != e.PcapCheck {
		bad = append(bad, fmt.Sprintf("pcapcheck %s, want %s: %v", verdict, e.PcapCheck, rep.Err()))
	}
	if e.Flags != "" && !golden.FlagsMatch(s.Flags, e.Flags, e.Match) {
		bad = append(bad, fmt.Sprintf("flags %q, want %q (%s)", s.Flags, e.Flags, e.Match))
	}
	if len(bad) > 0 {
		return fmt.Errorf("%s", strings.Join(bad, "; "))
	}
	return nil
}

// probeRaw probes s.Target with rawcheck's own Prober, opened in the
// prober namespace with s.Key as its cookie key, s.Prober's port as its
// only source port, an attempt timeout of 300 ms and d.SYNs attempts. With
// d.Forge, 50 ms after the SYN the target namespace sends a SYN-ACK that
// does not acknowledge it. The Prober's result must be the scenario's
// state, and with d.Forge the forged reply must be counted invalid.
func probeRaw(n *netlab.Net, s golden.Scenario, d Def) error {
	key := s.Key
	var p *rawcheck.Prober
	if err := n.InProber(func() (err error) {
		p, err = rawcheck.New(rawcheck.Config{
			SourcePorts: [2]uint16{s.Prober.Port(), s.Prober.Port()},
			CookieKey:   &key,
			Timeout:     retransmitAfter,
			Attempts:    d.SYNs,
		})
		return err
	}); err != nil {
		return err
	}
	defer p.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	type probed struct {
		r   rawcheck.Result
		err error
	}
	done := make(chan probed, 1)
	go func() {
		r, err := p.Probe(ctx, s.Target)
		done <- probed{r, err}
	}()
	var forgeErr error
	if d.Forge {
		time.Sleep(50 * time.Millisecond)
		// The forged SYN-ACK comes from the target's address and port but
		// acknowledges cookie+1+4096, not the SYN's sequence number (the
		// cookie XOR the probe's nonce) plus one.
		seq := s.Key.Cookie(s.Prober.Addr(), s.Target.Addr(), s.Prober.Port(), s.Target.Port())
		forgeErr = ForgeSYNACK(n, s.Target, s.Prober, seq+1+4096)
	}
	res := <-done
	switch {
	case res.err != nil:
		return fmt.Errorf("rawcheck Probe %v: %w", s.Target, res.err)
	case forgeErr != nil:
		return forgeErr
	case rawcheck.State(d.Expected.State) != res.r.State:
		return fmt.Errorf("rawcheck Probe %v: %v, want %v", s.Target, res.r.State, d.Expected.State)
	case res.r.Attempts != d.SYNs:
		return fmt.Errorf("rawcheck Probe %v: %d attempts, want %d", s.Target, res.r.Attempts, d.SYNs)
	}
	if st := p.Stats(); d.Forge && st.Invalid != 1 {
		return fmt.Errorf("rawcheck counted %d invalid replies, want the forged one", st.Invalid)
	}
	return nil
}

// ForgeSYNACK sends, from the target namespace, a SYN-ACK from `from` to
// `to` acknowledging ack, with a random sequence number: a reply no SYN
// asked for unless ack happens to be its ISN+1.
func ForgeSYNACK(n *netlab.Net, from, to netip.AddrPort, ack uint32) error {
	forged := synACK(from, to, rand.Uint32(), ack)
	return n.InTarget(func() error {
		fd, err := rawTCPSocket(to.Addr(), from.Addr())
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		return sendTo(fd, forged, to.Addr())
	})
}

// rawTCPSocket opens a raw IPPROTO_TCP socket for sending to dst (the
// kernel writes the IP header), bound to src when it is valid.
func rawTCPSocket(dst, src netip.Addr) (int, error) {
	family := unix.AF_INET
	if dst.Is6() {
		family = unix.AF_INET6
	}
	fd, err := unix.Socket(family, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_TCP)
	if err != nil {
		return -1, os.NewSyscallError("socket", err)
	}
	if src.IsValid() {
		sa := sockaddr(src)
		if err := unix.Bind(fd, sa); err != nil {
			unix.Close(fd)
			return -1, os.NewSyscallError("bind", err)
		}
	}
	return fd, nil
}

func sendTo(fd int, b []byte, dst netip.Addr) error {
	return os.NewSyscallError("sendto", unix.Sendto(fd, b, 0, sockaddr(dst)))
}

// sockaddr returns a with port 0, as raw sockets want it.
func sockaddr(a netip.Addr) unix.Sockaddr {
	if a.Is4() {
		return &unix.SockaddrInet4{Addr: a.As4()}
	}
	return &unix.SockaddrInet6{Addr: a.As16()}
}

// synACK builds a 20-byte TCP SYN-ACK from src to dst with its checksum.
func synACK(src, dst netip.AddrPort, seq, ack uint32) []byte {
	b := make([]byte, 20)
	binary.BigEndian.PutUint16(b[0:], src.Port())
	binary.BigEndian.PutUint16(b[2:], dst.Port())
	binary.BigEndian.PutUint32(b[4:], seq)
	binary.BigEndian.PutUint32(b[8:], ack)
	b[12] = 5 << 4
	b[13] = synack.FlagSYN | synack.FlagACK
	binary.BigEndian.PutUint16(b[14:], 65535)
	pseudo := append(append(src.Addr().AsSlice(), dst.Addr().AsSlice()...), 0, unix.IPPROTO_TCP, 0, byte(len(b)))
	binary.BigEndian.PutUint16(b[16:], synack.Fold(synack.Sum(b, synack.Sum(pseudo, 0))))
	return b
}

// probeCompat checks target with a compat Checker whose check socket is
// created in the prober namespace.
func probeCompat(n *netlab.Net, target netip.AddrPort) error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c := compat.NewChecker()
	loop := make(chan error, 1)
	go func() { loop <- c.CheckingLoop(ctx) }()
	select {
	case <-c.WaitReady():
	case err := <-loop:
		return fmt.Errorf("compat checking loop: %w", err)
	case <-time.After(5 * time.Second):
		return fmt.Errorf("compat checking loop not ready after 5s")
	}
	err := n.InProber(func() error { return c.CheckAddr(target.String(), checkTimeout) })
	cancel()
	<-loop
	if err != nil {
		return fmt.Errorf("compat CheckAddr %v: %w", target, err)
	}
	return nil
}

// probeDial connects to target from the prober namespace and closes.
func probeDial(n *netlab.Net, target netip.AddrPort) error {
	return n.InProber(func() error {
		conn, err := net.DialTimeout("tcp", target.String(), checkTimeout)
		if err != nil {
			return err
		}
		return conn.Close()
	})
}

// WaitReady waits, up to timeout, until the prober reaches the target's
// listener on OpenPort over IPv4 and IPv6 (a fresh veth pair takes a moment
// to get its carrier, and the first packets would wait for neighbour
// resolution). Its connections use addresses no scenario uses and end
// with RST; they are accepted by the target before WaitReady returns.
func WaitReady(n *netlab.Net, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for _, p := range []netip.Prefix{n.Answering4, n.Answering6} {
		addr := target(p, 200, OpenPort).String()
		for {
			err := n.InProber(func() error {
				c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
				if err == nil {
					// RST at once: no closing handshake
					// to spill into the first capture.
					c.(*net.TCPConn).SetLinger(0)
					c.Close()
				}
				return err
			})
			if err == nil {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("record: the test network is not ready after %v: %w", timeout, err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	// Let the target accept (and count) the connections before the
	// first scenario counts its own.
	time.Sleep(drain)
	return nil
}
