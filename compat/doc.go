// Package compat is a drop-in replacement for github.com/tevino/tcp-shaker:
// code that imports it as
//
//	tcp "github.com/rawprobe/rawprobe/compat"
//
// keeps working: the same Checker API (NewChecker, CheckingLoop,
// WaitReady, CheckAddr, ErrTimeout, *ErrConnect, DefaultChecker, ...) with
// the same results. A check sends SYN and, on SYN-ACK, closes the socket
// with SO_LINGER {1, 0}, so the target gets RST and never sees an accepted
// connection. Like tcp-shaker, it depends on the standard library and
// golang.org/x/sys only.
//
// # The Linux engine
//
// Each check creates a non-blocking socket with TCP_QUICKACK off (the
// kernel then delays the ACK of the SYN-ACK by up to 200 ms instead of
// sending it at once), connects it and registers it, edge-triggered and
// one-shot, with the Checker's own epoll instances (rawprobe's engine in
// internal/epollcheck, which documents and tests it in depth). What makes
// it better than tcp-shaker:
//
//   - Sockets are closed the moment their answer is seen, by whichever of
//     the process's goroutines sees it first, with no Go preemption point
//     between taking the answer and the close; this keeps the RST ahead of
//     the delayed ACK under load.
//   - A result can never reach the wrong check when the kernel reuses an
//     fd number: epoll events carry a slot index and generation, not the
//     fd.
//   - Nor does a check meet the last one's leftovers on the same 4-tuple:
//     with zero linger, source ports are taken in rotation over the
//     ephemeral range instead of from connect(), which could hand a port
//     just freed by RST to the next check to the same target.
//   - No allocation per check on the hot path (an IP literal that answers
//     SYN-ACK), and timeouts are enforced by the engine scanning deadlines
//     (accuracy about 2 ms) instead of a timer per check.
//
// Hostnames are resolved (IPv4 and IPv6) within the timeout and their
// addresses checked in turn, IPv4 first, until one answers SYN-ACK.
//
// # Other engines
//
// NewCheckerWithBackend puts another engine (a Backend) behind the same
// API. Package compat/rawcompat does so with rawprobe's raw SYN engine:
// rawcompat.NewRawChecker.
//
// # Other systems
//
// Elsewhere a net.Dialer fallback completes the connection and closes it
// at once (with RST when zero linger is asked for): same API, but the
// target does see a connection.
package compat
