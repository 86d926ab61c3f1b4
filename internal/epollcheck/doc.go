// Package epollcheck is rawprobe's connect() engine: it checks whether TCP
// ports accept connections without completing the handshake (SYN,
// SYN-ACK, then RST from our side), and reports each check as an Outcome.
// Package compat puts tcp-shaker's Checker API on it; the CLI's connect
// engine (internal/cli/engine) uses it directly.
//
// # The Linux engine
//
// Each check creates a non-blocking socket with TCP_QUICKACK off (the
// kernel then delays the ACK of the SYN-ACK by up to 200 ms instead of
// sending it at once), connects it and registers it, edge-triggered and
// one-shot, with one of the engine's epoll instances. The result is
// SO_ERROR. What the engine takes care of:
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
//   - Nor can a check of a stopped run touch that run's epoll fd or
//     eventfd once the loop has closed them: every use outside the loop
//     holds the shard's lock and finds it closed. The engine's next run
//     usually gets the same fd numbers, and a late poll of them would take
//     its one-shot events (TestRestartedLoopKeepsItsEvents).
//   - Nor does a check meet the last one's leftovers on the same 4-tuple:
//     with zero linger, source ports are taken in rotation over the
//     ephemeral range instead of from connect(), which could hand a port
//     just freed by RST to the next check to the same target.
//   - No allocation per check on the hot path: slots with their channels
//     are reused, Outcome is a plain value, and timeouts are enforced by
//     the loop scanning deadlines (accuracy about 2 ms) instead of a timer
//     per check.
//   - A target the kernel has no route to is reported as NoRoute, told
//     apart from an ICMP error (Unreachable) by which connect() call
//     failed: the route is looked up before the SYN is built.
//
// # Other systems
//
// Elsewhere a net.Dialer fallback completes the connection and closes it
// at once (with RST when zero linger is asked for): the same API, but the
// target does see a connection.
package epollcheck
