package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rawprobe/rawprobe/internal/cli/buildinfo"
)

// TestNmapOutputs: -oX and -oG write nmap's formats in the same run as the
// ordinary output, every port of a host in one record when -p gives every
// host the same ports.
func TestNmapOutputs(t *testing.T) {
	dir := t.TempDir()
	xmlPath, grepPath := filepath.Join(dir, "scan.xml"), filepath.Join(dir, "scan.gnmap")
	c := runCLI(t, []string{"--seed", "3", "-p", "80,81", "-oX", xmlPath, "-oG", grepPath, "198.18.0.1-198.18.0.2", "203.0.113.4"})
	if c.code != 1 || !strings.Contains(c.stdout, "198.18.0.1:80") {
		t.Fatalf("exit %d\n%s%s", c.code, c.stdout, c.stderr)
	}
	x, err := os.ReadFile(xmlPath)
	if err != nil {
		t.Fatal(err)
	}
	g, err := os.ReadFile(grepPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`args="rawprobe -&#45;seed 3 -p 80,81 -oX ` + xmlPath,
		`<scaninfo type="syn" protocol="tcp" numservices="2" services="80-81"/>`,
		`<address addr="198.18.0.1" addrtype="ipv4"/>`,
		`<port protocol="tcp" portid="80"><state state="open" reason="syn-ack" reason_ttl="64"/><service name="http"`,
		`<port protocol="tcp" portid="80"><state state="filtered" reason="host-unreach" reason_ttl="63"/>`,
		`<hosts up="3" down="0" total="3"/>`,
		`exit="success"`,
	} {
		if !strings.Contains(string(x), want) {
			t.Errorf("XML lacks %q:\n%s", want, x)
		}
	}
	if n := strings.Count(string(x), "<host "); n != 3 {
		t.Errorf("%d <host> elements, want 3 (one per host)", n)
	}
	for _, want := range []string{
		"Host: 198.18.0.1 ()\tPorts: 80/open/tcp//http///, 81/open/tcp//",
		"Host: 198.18.0.2 ()\tPorts: 80/closed/tcp//http///, 81/closed/tcp//",
		"Host: 203.0.113.4 ()\tStatus: Up\n",
		"# Nmap done at ",
	} {
		if !strings.Contains(string(g), want) {
			t.Errorf("grepable output lacks %q:\n%s", want, g)
		}
	}
	// Negative control: without -oX/-oG no such file appears.
	other := filepath.Join(dir, "none.xml")
	runCLI(t, []string{"-p", "80", "198.18.0.1"})
	if _, err := os.Stat(other); err == nil {
		t.Error("a scan without -oX wrote XML")
	}
}

func TestNmapOutputsSameFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x")
	c := runCLI(t, []string{"-oX", path, "-oG", path, "198.18.0.1:80"})
	if c.code != 2 || !strings.Contains(c.stderr, "-oX and -oG both write to") || len(c.fake.probed) != 0 {
		t.Errorf("exit %d, stderr %q, probed %v", c.code, c.stderr, c.fake.probed)
	}
	c = runCLI(t, []string{"-oX", "-", "198.18.0.1:80"})
	if c.code != 2 || !strings.Contains(c.stderr, "-o and -oX both write to \"-\"") {
		t.Errorf("-oX - with stdout: exit %d, stderr %q", c.code, c.stderr)
	}
	c = runCLI(t, []string{"-o", filepath.Join(t.TempDir(), "out"), "-oX", "-", "198.18.0.1:80"})
	if c.code != 0 || !strings.Contains(c.stdout, "<nmaprun") {
		t.Errorf("-oX - with -o FILE: exit %d, stdout %q, stderr %q", c.code, c.stdout, c.stderr)
	}
}

func TestVersion(t *testing.T) {
	c := runCLI(t, []string{"--version"})
	if c.code != 0 || c.stdout != buildinfo.Read().String()+"\n" || len(c.opened) != 0 {
		t.Errorf("exit %d, stdout %q, opened %v", c.code, c.stdout, c.opened)
	}
}
