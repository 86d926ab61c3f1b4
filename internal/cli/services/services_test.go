package services

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// servicesFile is a services(5) file with the names the tests expect, one
// name the IANA table does not have (8080: "webcache", IANA "http-alt"),
// UDP entries, and malformed lines that must be skipped.
const servicesFile = `# test services
tcpmux		1/tcp				# TCP port service multiplexer
http		80/tcp		www		# WorldWideWeb HTTP
https		443/tcp
https		443/udp				# HTTP/3
broken
nonumber	x/tcp
tooBig		70000/tcp
noproto		81/
noslash		82
postgresql	5432/tcp	postgres	# PostgreSQL Database
webcache	8080/tcp
second		8080/tcp			# a later line for the same port loses
`

func writeFile(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "services")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestLookupFromFile(t *testing.T) {
	db := NewDatabase(writeFile(t, servicesFile))
	for _, tc := range []struct {
		port  uint16
		proto string
		want  string
	}{
		{80, "tcp", "http"},
		{443, "tcp", "https"},
		{443, "udp", "https"},
		{5432, "tcp", "postgresql"},
		{8080, "tcp", "webcache"}, // the file wins over the IANA table, and its first line over later ones
		{22, "tcp", "ssh"},        // not in the file: the IANA table
		{22, "udp", ""},           // the IANA table is TCP only
		{70000 - 65536, "tcp", ""},
		{81, "tcp", ""}, // "81/" is malformed, and IANA has no name for 81/tcp
	} {
		if got := db.Lookup(tc.port, tc.proto); got != tc.want {
			t.Errorf("Lookup(%d, %q) = %q, want %q", tc.port, tc.proto, got, tc.want)
		}
	}
	if _, ok := db.names[portProto{82, "tcp"}]; ok {
		t.Error("the malformed line 'noslash 82' was read")
	}
	if len(db.names) != 6 {
		t.Errorf("read %d entries from the file, want 6: %v", len(db.names), db.names)
	}
}

func TestLookupEmbeddedTable(t *testing.T) {
	db := NewDatabase(filepath.Join(t.TempDir(), "missing"))
	for _, tc := range []struct {
		port uint16
		want string
	}{
		{1, "tcpmux"}, // the first line of the table
		{80, "http"},
		{443, "https"},
		{5432, "postgresql"},
		{8080, "http-alt"},
		{0, ""},
		{4, ""},     // between two named ports
		{65535, ""}, // past the last line
	} {
		if got := db.Lookup(tc.port, "tcp"); got != tc.want {
			t.Errorf("Lookup(%d, tcp) = %q, want %q", tc.port, got, tc.want)
		}
	}
	if got := db.Lookup(80, "udp"); got != "" {
		t.Errorf("Lookup(80, udp) without a services file = %q, want \"\"", got)
	}
}

// TestEmbeddedTableSearch checks the bisection against a linear reading of
// every line of the table, for every port.
func TestEmbeddedTableSearch(t *testing.T) {
	want := make(map[int]string)
	for _, line := range strings.Split(strings.TrimSuffix(string(ianaTCP), "\n"), "\n") {
		p, name := parseLine(line)
		if p < 0 || name == "" {
			t.Fatalf("table line %q does not parse", line)
		}
		want[p] = name
	}
	if len(want) < 5000 {
		t.Fatalf("the table names only %d ports", len(want))
	}
	for p := 0; p <= 65535; p++ {
		if got := ianaTCP.lookup(uint16(p)); got != want[p] {
			t.Fatalf("lookup(%d) = %q, want %q", p, got, want[p])
		}
	}
	small := portTable("5\tfive\n7\tseven\n")
	for p, w := range map[uint16]string{4: "", 5: "five", 6: "", 7: "seven", 8: ""} {
		if got := small.lookup(p); got != w {
			t.Errorf("small table lookup(%d) = %q, want %q", p, got, w)
		}
	}
	if got := portTable("").lookup(5); got != "" {
		t.Errorf("empty table lookup = %q", got)
	}
}

func TestLookupDoesNotAllocate(t *testing.T) {
	for name, db := range map[string]*Database{
		"file":     NewDatabase(writeFile(t, servicesFile)),
		"embedded": NewDatabase(filepath.Join(t.TempDir(), "missing")),
	} {
		db.Lookup(80, "tcp") // loads
		ports := []uint16{80, 443, 5432, 22, 12345, 65535}
		i := 0
		n := testing.AllocsPerRun(1000, func() {
			db.Lookup(ports[i%len(ports)], "tcp")
			db.Lookup(ports[i%len(ports)], "udp")
			i++
		})
		if n != 0 {
			t.Errorf("%s: %v allocations per Lookup", name, n)
		}
	}
}

func TestSystemLookup(t *testing.T) {
	// Whatever /etc/services holds, 80/tcp is http in it and in the IANA table.
	if got := Lookup(80, "tcp"); got != "http" {
		t.Errorf("Lookup(80, tcp) = %q, want http", got)
	}
}

func BenchmarkLookup(b *testing.B) {
	db := NewDatabase(filepath.Join(b.TempDir(), "missing"))
	db.Lookup(80, "tcp")
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		db.Lookup(uint16(i), "tcp")
	}
}

// TestGenerator runs gen.go on a small services file and checks the table
// it writes: TCP only, the first name of each port, ascending ports, and a
// table the embedded lookup reads.
func TestGenerator(t *testing.T) {
	goCmd, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go command not in PATH: cannot run the generator")
	}
	out := filepath.Join(t.TempDir(), "table.txt")
	cmd := exec.Command(goCmd, "run", "gen.go", "-in", writeFile(t, servicesFile), "-out", out)
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go run gen.go: %v\n%s", err, msg)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	table := skipComments(string(data))
	want := "1\ttcpmux\n80\thttp\n443\thttps\n5432\tpostgresql\n8080\twebcache\n"
	if table != want {
		t.Errorf("generated table:\n%s\nwant:\n%s", table, want)
	}
	if got := portTable(table).lookup(5432); got != "postgresql" {
		t.Errorf("generated table lookup(5432) = %q", got)
	}
}

// TestEnvFile: RAWPROBE_SERVICES_FILE replaces /etc/services; set and
// empty, it leaves the embedded IANA table only.
func TestEnvFile(t *testing.T) {
	t.Setenv(EnvFile, "/nonexistent/services")
	if got := systemPath(); got != "/nonexistent/services" {
		t.Errorf("systemPath with %s set = %q", EnvFile, got)
	}
	t.Setenv(EnvFile, "")
	if got := systemPath(); got != "" {
		t.Errorf("systemPath with %s empty = %q, want none", EnvFile, got)
	}
	if got := NewDatabase("").Lookup(5432, "tcp"); got != "postgresql" {
		t.Errorf("no file: 5432/tcp = %q, want postgresql from the IANA table", got)
	}
}
