package rawcheck

import (
	"fmt"
	"os"
)

// ephemeralPortsFile holds the ephemeral port range (low, high) of the
// network namespace of the thread that opens it, for IPv4 and IPv6 alike.
const ephemeralPortsFile = "/proc/sys/net/ipv4/ip_local_port_range"

// ephemeralPorts returns the kernel's ephemeral port range in the calling
// thread's network namespace, the one New's sockets are made in.
func ephemeralPorts() (lo, hi uint16, err error) {
	b, err := os.ReadFile(ephemeralPortsFile)
	if err != nil {
		return 0, 0, err
	}
	lo, hi, err = parsePortRange(string(b))
	if err != nil {
		return 0, 0, fmt.Errorf("%s: %w", ephemeralPortsFile, err)
	}
	return lo, hi, nil
}
