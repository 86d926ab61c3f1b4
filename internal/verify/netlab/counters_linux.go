package netlab

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
		return nil, fmt.Errorf("netlab: target counters: %w", err)
	}
	return m, nil
}

// BacklogDrops returns how many received packets the kernel has dropped,
// on all CPUs, because a CPU's input backlog was full (the second column
// of /proc/net/softnet_stat). A veth delivers through that backlog, whose
// size (net.core.netdev_max_backlog) is one host-wide setting no test may
// change: a flood from any test on the machine can overflow it. A load
// test that sees unexplained timeouts can compare this before and after
// to tell such drops from its own bugs. The count is host-wide and is only
// read.
func BacklogDrops() (uint64, error) {
	b, err := os.ReadFile("/proc/net/softnet_stat")
	if err != nil {
		return 0, fmt.Errorf("netlab: %w", err)
	}
	return parseSoftnetDrops(b)
}
