package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/rawprobe/rawprobe/internal/cli/engine"
)

// TestSourcePortsRefused: --source-ports below 1024 or overlapping the
// kernel's ephemeral port range (read here from /proc, as the engine
// reads it) is bad input: exit 2 naming the range and the conflict,
// nothing opened or probed, for the scan and for serve. With
// --force-source-ports the same ranges reach the engine (the control).
func TestSourcePortsRefused(t *testing.T) {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(b))
	if len(f) != 2 {
		t.Fatalf("ip_local_port_range %q", b)
	}
	lo, _ := strconv.Atoi(f[0])
	inside := fmt.Sprintf("%d-%d", lo, lo+10)
	ephemeral := f[0] + "-" + f[1]
	for _, tc := range []struct {
		ports string
		want  []string
	}{
		{"1-65535", []string{"--source-ports 1-65535", "from 1024 up"}},
		{"22-22", []string{"--source-ports 22-22", "from 1024 up"}},
		{inside, []string{"--source-ports " + inside, "ephemeral port range " + ephemeral, "ip_local_port_range"}},
	} {
		for _, sub := range [][]string{nil, {"serve", "--listen", "127.0.0.1:0"}} {
			args := append(append([]string{}, sub...), "--source-ports", tc.ports)
			if sub == nil {
				args = append(args, "198.18.0.1:80")
			}
			checkRejected(t, args, tc.want)
		}

		var got engine.Config
		args := []string{"--source-ports", tc.ports, "--force-source-ports", "198.18.0.1:80"}
		c := runCLI(t, args, func(e *env, c *cli) {
			e.openEngine = func(name string, cfg engine.Config) (engine.Engine, string, error) {
				got = cfg
				c.opened = append(c.opened, name)
				return c.fake, "", nil
			}
		})
		if c.code != 0 || len(c.opened) != 1 || !got.ForceSourcePorts || fmt.Sprintf("%d-%d", got.SourcePorts[0], got.SourcePorts[1]) != tc.ports {
			t.Errorf("%q: exit %d, opened %v, engine config %+v, stderr %q; want the scan to run with the range", args, c.code, c.opened, got, c.stderr)
		}
	}
}
