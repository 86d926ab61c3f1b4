// Package rawcheck is rawprobe's raw engine: SYNs built by package synack are
// sent on a raw socket, replies are read by a BPF-filtered AF_PACKET listener
// and matched to pending probes, with retries, timeouts and RTT measurement.
// The handshake is never completed: a SYN-ACK is answered with RST only.
package rawcheck
