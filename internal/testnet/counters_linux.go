package testnet

import (
	"fmt"
	"os"
)

// TargetCounters returns the target namespace's IP, ICMP, TCP and UDP
// counters from /proc/net/snmp, /proc/net/netstat and /proc/net/snmp6,
// keyed like "Tcp.PassiveOpens", "Tcp.InSegs", "TcpExt.ListenOverflows",
// "TcpExt.SyncookiesSent" or "Icmp6.OutDestUnreachs". They are read on a
// thread inside the target namespace (/proc/self/net would show the
// namespace of the process's main thread instead).
func (n *Net) TargetCounters() (map[string]uint64, error) {
	m := make(map[string]uint64, 512)
	err := n.InTarget(func() error {
		for _, f := range []struct {
			name  string
			parse func(map[string]uint64, []byte) error
		}{
			{"snmp", parseSNMP},
			{"netstat", parseSNMP},
			{"snmp6", parseSNMP6},
		} {
			b, err := os.ReadFile("/proc/thread-self/net/" + f.name)
			if err != nil {
				return err
			}
			if err := f.parse(m, b); err != nil {
				return fmt.Errorf("/proc/net/%s: %w", f.name, err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("testnet: target counters: %w", err)
	}
	return m, nil
}
