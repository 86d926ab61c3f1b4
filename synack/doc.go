// Package synack is rawprobe's packet core: SYN templates for IPv4 and IPv6
// with incremental checksums, keyed reply cookies, allocation-free parsing of
// SYN-ACK, RST and ICMP unreachable replies, RST crafting and the classic BPF
// programs that select those replies. It makes no system calls and builds on
// every GOOS.
package synack
