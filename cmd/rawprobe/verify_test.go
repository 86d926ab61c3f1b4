package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// halfOpenPcap is pcapverify's synthetic capture of four correct checks.
const halfOpenPcap = "../../pcapverify/testdata/halfopen.pcap"

func TestVerifyCommand(t *testing.T) {
	c := runCLI(t, []string{"verify", halfOpenPcap})
	if c.code != 0 || strings.Count(c.stdout, "\n") != 5 || !strings.Contains(c.stdout, "198.19.254.1:40000 -> 198.18.0.1:80") ||
		!strings.Contains(c.stdout, "half-open") || !strings.Contains(c.stdout, "0 handshakes completed") {
		t.Errorf("correct capture: exit %d\n%s%s", c.code, c.stdout, c.stderr)
	}
	data, err := os.ReadFile(halfOpenPcap)
	if err != nil {
		t.Fatal(err)
	}
	cut := filepath.Join(t.TempDir(), "cut.pcap")
	if err := os.WriteFile(cut, data[:len(data)-7], 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"verify", cut}, {"verify", filepath.Join(t.TempDir(), "missing")}, {"verify"}, {"verify", "a", "b"}} {
		if c := runCLI(t, args); c.code != 2 || c.stdout != "" || c.stderr == "" {
			t.Errorf("%q: exit %d, stdout %q, stderr %q; want 2 and a message", args, c.code, c.stdout, c.stderr)
		}
	}
}
