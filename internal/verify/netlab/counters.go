package netlab

import (
	"bufio"
	"bytes"
	"fmt"
	"strconv"
	"strings"
)

// parseSNMP adds the counters of a /proc/net/snmp or /proc/net/netstat
// text to m. Both files pair a line of names with a line of values, each
// starting with the same "Group:" label; keys are "Group.Name", e.g.
// "Tcp.PassiveOpens" or "TcpExt.ListenOverflows". Negative values (such as
// Tcp.MaxConn = -1, meaning no limit) are left out.
func parseSNMP(m map[string]uint64, text []byte) error {
	s := bufio.NewScanner(bytes.NewReader(text))
	for s.Scan() {
		names := strings.Fields(s.Text())
		if len(names) == 0 {
			continue
		}
		if !s.Scan() {
			return fmt.Errorf("counters: %s has names but no values", names[0])
		}
		values := strings.Fields(s.Text())
		if len(values) != len(names) || values[0] != names[0] {
			return fmt.Errorf("counters: %s line of names does not match its values", names[0])
		}
		group := strings.TrimSuffix(names[0], ":")
		for i := 1; i < len(names); i++ {
			v, err := strconv.ParseUint(values[i], 10, 64)
			if err != nil {
				if _, err := strconv.ParseInt(values[i], 10, 64); err == nil {
					continue // negative
				}
				return fmt.Errorf("counters: %s.%s: bad value %q", group, names[i], values[i])
			}
			m[group+"."+names[i]] = v
		}
	}
	return s.Err()
}

// snmp6Groups are the name prefixes of /proc/net/snmp6, longest first.
var snmp6Groups = []string{"UdpLite6", "Icmp6", "Udp6", "Ip6"}

// parseSNMP6 adds the counters of a /proc/net/snmp6 text ("Ip6InReceives
// 12" per line) to m under keys like "Ip6.InReceives" and
// "Icmp6.OutDestUnreachs".
func parseSNMP6(m map[string]uint64, text []byte) error {
	s := bufio.NewScanner(bytes.NewReader(text))
	for s.Scan() {
		f := strings.Fields(s.Text())
		if len(f) != 2 {
			continue
		}
		v, err := strconv.ParseUint(f[1], 10, 64)
		if err != nil {
			return fmt.Errorf("counters: %s: bad value %q", f[0], f[1])
		}
		key := f[0]
		for _, g := range snmp6Groups {
			if rest, ok := strings.CutPrefix(key, g); ok && rest != "" {
				key = g + "." + rest
				break
			}
		}
		m[key] = v
	}
	return s.Err()
}

// parseSoftnetDrops sums the second column (packets dropped because the
// CPU's input backlog was full) of a /proc/net/softnet_stat text.
func parseSoftnetDrops(text []byte) (uint64, error) {
	var sum uint64
	s := bufio.NewScanner(bytes.NewReader(text))
	for s.Scan() {
		f := strings.Fields(s.Text())
		if len(f) < 2 {
			return 0, fmt.Errorf("softnet_stat: short line %q", s.Text())
		}
		v, err := strconv.ParseUint(f[1], 16, 64)
		if err != nil {
			return 0, fmt.Errorf("softnet_stat: bad drop count %q", f[1])
		}
		sum += v
	}
	return sum, s.Err()
}
