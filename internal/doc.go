// Package internal holds what only rawprobe itself needs. Its folders are
// its roles; every package is listed here with one line.
//
// # Building blocks of the engines
//
// Used by the public packages and by the command alike.
//
//   - epollcheck: the connect() engine on epoll (netip.AddrPort in, a typed
//     Outcome out), behind compat and the command's connect engine.
//   - ratelimit: --rate's one meaning for both engines (SYNs per second on
//     golang.org/x/time/rate; abandoned waits give their tokens back).
//
// # The command's process
//
//   - privdrop: drops every capability of every thread of the process
//     (libcap's cap and psx) once the engines are open, then checks
//     /proc/self/task/*/status.
//
// # cli: the command's application layer
//
// Only cmd/rawprobe imports these; cmd/rawprobe itself holds the wiring,
// flags and exit codes.
//
//   - cli/engine: the raw and connect engines behind one interface.
//   - cli/targets: target parsing, the seeded permutation, shards, resume
//     positions.
//   - cli/output: text, JSON Lines, CSV, nmap XML and grepable writers, the
//     summary line, the progress bar, pcap output.
//   - cli/services: port service names (/etc/services, else IANA's table).
//   - cli/services/internal/servicesfile: the services(5) file parser.
//   - cli/exporter: the Prometheus exporter (blackbox-style /probe).
//   - cli/demo: "rawprobe demo".
//   - cli/buildinfo: version, commit and Go version of the running binary.
//
// # verify: the verification harness
//
// netlab and pcapcheck import no test code, so the demo uses them too; the
// others serve tests and devtools only.
//
//   - verify/netlab: builds the private prober/target namespace network.
//   - verify/pcapcheck: AF_PACKET captures, analysed by the public package
//     pcapverify, whose decoder is deliberately independent of synack.
//   - verify/testnet: netlab's testing layer (t.Cleanup, the privilege
//     gate, re-executed children in the prober namespace).
//   - verify/loopback: open, closed and silent loopback targets for the
//     engines' unprivileged tests.
//   - verify/golden: loads and replays the golden captures of
//     testdata/pcaps without privileges.
//   - verify/golden/record: records those scenarios in a netlab network.
//   - verify/godeps: `go list -deps` for the tests that bound what a
//     package is built from.
//   - verify/pcapconv: rewrites pcap files as pcapng, frame for frame,
//     for the tests that read both formats.
//
// # devtools: developer commands
//
//   - devtools/mkpcaps: `make pcaps`, records testdata/pcaps.
//   - devtools/benchcmp: `make bench`'s side-by-side comparison, writes
//     BENCHMARKS.md.
//   - devtools/benchcmp/scanworker: the scans of benchcmp -send-only and
//     -big, in a program linking rawcheck alone, so that their peak RSS is
//     rawcheck's.
//   - devtools/benchcmp/workerreport: what benchcmp's workers report (a
//     scan's JSON, their own peak RSS).
package internal
