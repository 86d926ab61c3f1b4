// Package compat is a drop-in replacement for github.com/tevino/tcp-shaker:
// code that imports it as
//
//	tcp "github.com/rawprobe/rawprobe/compat"
//
// keeps working: the same Checker API (NewChecker, CheckingLoop,
// WaitReady, CheckAddr, ErrTimeout, *ErrConnect, DefaultChecker, ...) with
// the same results. A check sends SYN and, on SYN-ACK, closes the socket
// with SO_LINGER {1, 0}, so the target gets RST and never sees an accepted
// connection.
//
// # The Linux engine
//
// Each check creates a non-blocking socket with TCP_QUICKACK off (the
// kernel then delays the ACK of the SYN-ACK by up to 200 ms instead of
// sending it at once), connects it and registers it, edge-triggered and
// one-shot, with the Checker's own epoll instance. The result is SO_ERROR.
// What makes it better than tcp-shaker:
//
//   - Sockets are closed the moment their answer is seen, by whichever of
//     the process's goroutines sees it first: the loop, or any check
//     goroutine, which on registering and on waking takes the events
//     already waiting. Taking events and closing their sockets happens with
//     no Go preemption point in between (go:nosplit, raw syscalls), the
//     loop keeps its P while checks are active and asks for nice -20 for
//     its thread (best effort). Together these keep the RST ahead of the
//     delayed ACK under load; see BenchmarkTestnet and TestLoadPcap50k.
//   - A result can never reach the wrong check when the kernel reuses an
//     fd number: epoll events carry a slot index and generation, not the
//     fd.
//   - Nor does a check meet the last one's leftovers on the same 4-tuple:
//     with zero linger, source ports are taken in rotation over the
//     ephemeral range instead of from connect(), which could hand a port
//     just freed by RST to the next check to the same target.
//   - No allocation per check on the hot path (an IP literal that answers
//     SYN-ACK): slots with their channels are reused, and timeouts are
//     enforced by the loop scanning deadlines (accuracy about 2 ms) instead
//     of a timer per check.
//
// Hostnames are resolved (IPv4 and IPv6) within the timeout and their
// addresses checked in turn, IPv4 first, until one answers SYN-ACK.
//
// # Other systems
//
// Elsewhere a net.Dialer fallback completes the connection and closes it
// at once (with RST when zero linger is asked for): same API, but the
// target does see a connection.
package compat
