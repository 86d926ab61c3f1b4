package rawcompat

import (
	"context"
	"errors"
	"net/netip"
	"sync"
	"syscall"
	"time"

	"github.com/rawprobe/rawprobe/compat"
	"github.com/rawprobe/rawprobe/rawcheck"
)

// NewRawChecker returns a *compat.Checker backed by rawprobe's raw SYN engine
// (package rawcheck) instead of connect(): hand-made SYNs on a raw socket,
// replies read by an AF_PACKET listener, RST from the kernel (or the engine,
// with cfg.OwnRST). CheckingLoop opens the engine with cfg, in the network
// namespace of the thread that runs it, and fails if it cannot (without
// CAP_NET_RAW the error satisfies errors.Is(err, os.ErrPermission)).
//
// The errors are those of compat.NewChecker: nil for SYN-ACK,
// compat.ErrTimeout when no answer came before the timeout,
// *compat.ErrConnect with the errno the kernel would have reported to
// connect() for a RST (ECONNREFUSED), an ICMP error (EHOSTUNREACH,
// ENETUNREACH, ...) or a target it has no route to (ENETUNREACH; nothing
// is sent). The handshake is never completed, so the zero-linger setting
// changes nothing. Each attempt of the engine lasts cfg.Timeout, with
// up to cfg.Attempts attempts, within the timeout given to CheckAddr.
func NewRawChecker(cfg rawcheck.Config) *compat.Checker {
	return compat.NewCheckerWithBackend(&rawBackend{cfg: cfg}, true)
}

// rawBackend runs a rawcheck.Prober for a compat.Checker.
type rawBackend struct {
	cfg rawcheck.Config

	mu sync.RWMutex
	p  *rawcheck.Prober // nil while Serve is not running
}

// Serve opens the engine, then holds it open until ctx is done.
func (b *rawBackend) Serve(ctx context.Context, ready func(pollerFd int)) error {
	p, err := rawcheck.New(b.cfg)
	if err != nil {
		return err
	}
	b.mu.Lock()
	b.p = p
	b.mu.Unlock()
	ready(-1)
	<-ctx.Done()
	b.mu.Lock()
	b.p = nil
	b.mu.Unlock()
	p.Close() // checks still waiting end with rawcheck.ErrClosed
	return nil
}

// Check probes target with the engine.
func (b *rawBackend) Check(target netip.AddrPort, deadline time.Time, _ bool) error {
	b.mu.RLock()
	p := b.p
	b.mu.RUnlock()
	if p == nil {
		return compat.ErrCheckerNotRunning
	}
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	r, err := p.Probe(ctx, target)
	switch {
	case errors.Is(err, rawcheck.ErrClosed):
		return compat.ErrCheckerNotRunning
	case errors.Is(err, context.DeadlineExceeded):
		return compat.ErrTimeout
	case err != nil:
		return err
	}
	switch r.State {
	case rawcheck.Open:
		return nil
	case rawcheck.Closed:
		return &compat.ErrConnect{Addr: target.String(), Errno: syscall.ECONNREFUSED}
	case rawcheck.Unreachable:
		if r.ICMPType == 0 {
			// No ICMP error: the next hop's neighbour was never resolved,
			// which connect() reports as EHOSTUNREACH.
			return &compat.ErrConnect{Addr: target.String(), Errno: syscall.EHOSTUNREACH}
		}
		return &compat.ErrConnect{Addr: target.String(), Errno: unreachableErrno(target.Addr().Is6(), r.ICMPCode)}
	case rawcheck.NoRoute:
		// What connect() reports at once for want of a route.
		return &compat.ErrConnect{Addr: target.String(), Errno: syscall.ENETUNREACH}
	}
	return compat.ErrTimeout
}

// unreachableErrno is the errno Linux reports to connect() for an ICMP
// (icmp_err_convert) or ICMPv6 (icmpv6_err_convert) destination-unreachable
// error with code.
func unreachableErrno(v6 bool, code uint8) syscall.Errno {
	if v6 {
		switch code {
		case 0: // no route
			return syscall.ENETUNREACH
		case 1, 5, 6: // administratively prohibited, policy, reject route
			return syscall.EACCES
		case 4: // port unreachable
			return syscall.ECONNREFUSED
		}
		return syscall.EHOSTUNREACH
	}
	switch code {
	case 0, 6, 9, 11: // network unreachable, unknown, prohibited, for TOS
		return syscall.ENETUNREACH
	case 2: // protocol unreachable
		return syscall.ENOPROTOOPT
	case 3: // port unreachable
		return syscall.ECONNREFUSED
	case 4: // fragmentation needed
		return syscall.EMSGSIZE
	case 5: // source route failed
		return syscall.EOPNOTSUPP
	case 7: // host unknown
		return syscall.EHOSTDOWN
	case 8: // host isolated
		return syscall.ENONET
	}
	return syscall.EHOSTUNREACH
}
