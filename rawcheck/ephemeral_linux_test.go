package rawcheck

import (
	"os"
	"strconv"
	"strings"
	"testing"
)

// TestEphemeralPorts: the range read is the one in
// /proc/sys/net/ipv4/ip_local_port_range, read independently here.
func TestEphemeralPorts(t *testing.T) {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		t.Fatal(err)
	}
	lo, hi, err := ephemeralPorts()
	if err != nil {
		t.Fatal(err)
	}
	if f := strings.Fields(string(b)); len(f) != 2 || f[0] != strconv.Itoa(int(lo)) || f[1] != strconv.Itoa(int(hi)) {
		t.Errorf("ephemeralPorts = %d-%d, the file says %q", lo, hi, b)
	}
}
