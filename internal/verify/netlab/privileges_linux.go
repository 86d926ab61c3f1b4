package netlab

import (
	"bufio"
	"os"
	"os/exec"
	"strconv"
	"strings"
)

// Capability bit numbers from linux/capability.h.
const (
	capNetAdmin = 12
	capNetRaw   = 13
	capSysAdmin = 21
)

// MissingPrivileges says what keeps this process from building a network
// with Setup, or returns "" when nothing does: Setup needs Linux, the
// capabilities CAP_NET_ADMIN, CAP_NET_RAW and CAP_SYS_ADMIN (e.g. root),
// and the ip and nft commands.
func MissingPrivileges() string {
	eff, err := effectiveCaps()
	if err != nil {
		return "cannot read capabilities: " + err.Error()
	}
	var need []string
	if eff&(1<<capNetAdmin) == 0 {
		need = append(need, "CAP_NET_ADMIN")
	}
	if eff&(1<<capNetRaw) == 0 {
		need = append(need, "CAP_NET_RAW")
	}
	if eff&(1<<capSysAdmin) == 0 {
		need = append(need, "CAP_SYS_ADMIN (for setns and ip netns)")
	}
	if len(need) > 0 {
		return "needs root or " + strings.Join(need, ", ")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		return "needs the ip command (install iproute2)"
	}
	if _, err := exec.LookPath("nft"); err != nil {
		return "needs the nft command (install nftables, e.g. `make deps` as root)"
	}
	return ""
}

// effectiveCaps returns the CapEff mask from /proc/self/status.
func effectiveCaps() (uint64, error) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if v, ok := strings.CutPrefix(s.Text(), "CapEff:"); ok {
			return strconv.ParseUint(strings.TrimSpace(v), 16, 64)
		}
	}
	if err := s.Err(); err != nil {
		return 0, err
	}
	return 0, os.ErrNotExist
}
