package output

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/rawprobe/rawprobe/rawcheck"
)

// envRequireTools is testnet.EnvRequirePrivileges: when "1" (as CI sets
// it), a test whose tool is missing fails instead of skipping.
const envRequireTools = "RAWPROBE_REQUIRE_PRIV"

// requireTool returns the path of a command the test needs, skipping the
// test when it is missing (failing under RAWPROBE_REQUIRE_PRIV=1).
func requireTool(t *testing.T, name, pkg string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err == nil {
		return path
	}
	msg := fmt.Sprintf("%s not found: install Debian's %s (make deps does)", name, pkg)
	if os.Getenv(envRequireTools) == "1" {
		t.Fatalf("%s (%s=1 forbids skipping)", msg, envRequireTools)
	}
	t.Skipf("%s; skipped (set %s=1 to make this a failure)", msg, envRequireTools)
	return ""
}

// nmapDTD is the DTD of nmap's XML output, shipped by Debian's nmap.
const nmapDTD = "/usr/share/nmap/nmap.dtd"

func requireDTD(t *testing.T) {
	t.Helper()
	requireTool(t, "xmllint", "libxml2-utils")
	if _, err := os.Stat(nmapDTD); err != nil {
		msg := fmt.Sprintf("%s missing: install Debian's nmap (make deps does)", nmapDTD)
		if os.Getenv(envRequireTools) == "1" {
			t.Fatalf("%s (%s=1 forbids skipping)", msg, envRequireTools)
		}
		t.Skipf("%s; skipped (set %s=1 to make this a failure)", msg, envRequireTools)
	}
}

var nmapStart = time.Date(2026, 11, 25, 19, 30, 0, 0, time.UTC)

func rec(name, target string, state rawcheck.State, ttl uint8, icmpType, icmpCode uint8, attempts int, at time.Duration) Record {
	rtt := time.Duration(0)
	if state != rawcheck.Timeout && attempts > 0 {
		rtt = 300 * time.Microsecond
	}
	return Record{Name: name, Result: rawcheck.Result{
		Target: netip.MustParseAddrPort(target), State: state, TTL: ttl,
		ICMPType: icmpType, ICMPCode: icmpCode, RTT: rtt, Attempts: attempts,
	}, Time: nmapStart.Add(at)}
}

// nmapSample has every state and reason kind, IPv4 and IPv6, a named host
// and results of one host interleaved with another's.
var nmapSample = []Record{
	rec("db.example:5432", "198.18.0.5:5432", rawcheck.Open, 64, 0, 0, 1, 100*time.Millisecond),
	rec("198.18.0.6:81", "198.18.0.6:81", rawcheck.Closed, 64, 0, 0, 1, 110*time.Millisecond),
	rec("db.example:22", "198.18.0.5:22", rawcheck.Closed, 64, 0, 0, 1, 120*time.Millisecond),
	rec("[2001:db8::1]:443", "[2001:db8::1]:443", rawcheck.Timeout, 0, 0, 0, 3, 3*time.Second),
	rec("203.0.113.9:22", "203.0.113.9:22", rawcheck.Unreachable, 63, 3, 1, 2, 1200*time.Millisecond),
	rec("203.0.113.9:443", "203.0.113.9:443", rawcheck.Unreachable, 63, 3, 13, 1, 1300*time.Millisecond),
	rec("[2001:db8::9]:80", "[2001:db8::9]:80", rawcheck.Unreachable, 62, 1, 4, 1, 400*time.Millisecond),
	rec("198.18.0.6:443", "198.18.0.6:443", rawcheck.Open, 64, 0, 0, 1, 130*time.Millisecond),
	rec("198.51.100.1:80", "198.51.100.1:80", rawcheck.NoRoute, 0, 0, 0, 0, 0),
	rec("[2001:db8:1::1]:80", "[2001:db8:1::1]:80", rawcheck.Unreachable, 0, 0, 0, 1, 0), // the connect engine's: no ICMP type
	rec(`we"ird<&>--name:1`, "[2001:db8::2]:1", rawcheck.Open, 255, 0, 0, 1, 5*time.Millisecond),
}

var nmapHeader = NmapHeader{
	Args:     `rawprobe -p 1,22,80,81,443,5432 --open-ish "we<ird>" 198.18.0.0/24`,
	Start:    nmapStart,
	Version:  "rawprobe-test",
	Ports:    "1,22,80,81,443,5432",
	NumPorts: 6,
	// NumPorts stays 0: the sample does not probe every port of every
	// host, so hosts wait for Close.
}

var nmapEnd = nmapStart.Add(3250 * time.Millisecond)

// renderNmap writes recs with the writer newWriter returns and closes it
// with stats, failing t on any error; it returns what was written.
func renderNmap[W interface {
	Write(Record) error
	Close(NmapStats) error
}](t *testing.T, newWriter func(io.Writer, NmapHeader) W, h NmapHeader, recs []Record, stats NmapStats) string {
	t.Helper()
	var buf bytes.Buffer
	w := newWriter(&buf, h)
	for _, r := range recs {
		if err := w.Write(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(stats); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

// renderXML is what an XMLWriter writes of recs.
func renderXML(t *testing.T, h NmapHeader, recs []Record, stats NmapStats) string {
	t.Helper()
	return renderNmap(t, NewXMLWriter, h, recs, stats)
}

// renderGrepable is what a GrepableWriter writes of recs.
func renderGrepable(t *testing.T, h NmapHeader, recs []Record, stats NmapStats) string {
	t.Helper()
	return renderNmap(t, NewGrepableWriter, h, recs, stats)
}

func TestNmapGolden(t *testing.T) {
	golden(t, "nmap-sample.xml", renderXML(t, nmapHeader, nmapSample, NmapStats{End: nmapEnd}))
	golden(t, "nmap-sample.gnmap", renderGrepable(t, nmapHeader, nmapSample, NmapStats{End: nmapEnd}))
}

func TestNmapPortState(t *testing.T) {
	v4, v6 := "198.18.0.1:80", "[2001:db8::1]:80"
	for _, tc := range []struct {
		target        string
		state         rawcheck.State
		typ, code     uint8
		attempts      int
		want, wantWhy string
	}{
		{v4, rawcheck.Open, 0, 0, 1, "open", "syn-ack"},
		{v6, rawcheck.Closed, 0, 0, 1, "closed", "reset"},
		{v4, rawcheck.Timeout, 0, 0, 3, "filtered", "no-response"},
		{v4, rawcheck.NoRoute, 0, 0, 0, "filtered", "no-route"},
		{v6, rawcheck.NoRoute, 0, 0, 0, "filtered", "no-route"},
		{v4, rawcheck.Unreachable, 0, 0, 2, "filtered", "dest-unreach"},
		{v6, rawcheck.Unreachable, 0, 0, 1, "filtered", "dest-unreach"},
		{v4, rawcheck.Unreachable, 3, 0, 1, "filtered", "net-unreach"},
		{v4, rawcheck.Unreachable, 3, 1, 1, "filtered", "host-unreach"},
		{v4, rawcheck.Unreachable, 3, 2, 1, "filtered", "proto-unreach"},
		{v4, rawcheck.Unreachable, 3, 3, 1, "filtered", "port-unreach"},
		{v4, rawcheck.Unreachable, 3, 4, 1, "filtered", "dest-unreach"},
		{v4, rawcheck.Unreachable, 3, 9, 1, "filtered", "net-prohibited"},
		{v4, rawcheck.Unreachable, 3, 10, 1, "filtered", "host-prohibited"},
		{v4, rawcheck.Unreachable, 3, 13, 1, "filtered", "admin-prohibited"},
		{v4, rawcheck.Unreachable, 11, 0, 1, "filtered", "time-exceeded"},
		{"[::ffff:198.18.0.1]:80", rawcheck.Unreachable, 3, 1, 1, "filtered", "host-unreach"},
		{v6, rawcheck.Unreachable, 1, 0, 1, "filtered", "no-route"},
		{v6, rawcheck.Unreachable, 1, 1, 1, "filtered", "admin-prohibited"},
		{v6, rawcheck.Unreachable, 1, 2, 1, "filtered", "beyond-scope"},
		{v6, rawcheck.Unreachable, 1, 3, 1, "filtered", "host-unreach"},
		{v6, rawcheck.Unreachable, 1, 4, 1, "filtered", "port-unreach"},
		{v6, rawcheck.Unreachable, 1, 5, 1, "filtered", "admin-prohibited"},
		{v6, rawcheck.Unreachable, 1, 6, 1, "filtered", "reject-route"},
		{v6, rawcheck.Unreachable, 1, 7, 1, "filtered", "dest-unreach"},
		{v6, rawcheck.Unreachable, 3, 0, 1, "filtered", "time-exceeded"},
		{v6, rawcheck.Unreachable, 3, 1, 1, "filtered", "time-exceeded"},
		{v6, rawcheck.Unreachable, 4, 0, 1, "filtered", "param-problem"},
	} {
		r := rawcheck.Result{Target: netip.MustParseAddrPort(tc.target), State: tc.state, ICMPType: tc.typ, ICMPCode: tc.code, Attempts: tc.attempts}
		if st, why := NmapPortState(r); st != tc.want || why != tc.wantWhy {
			t.Errorf("%s %v icmp %d/%d attempts %d: %s/%s, want %s/%s", tc.target, tc.state, tc.typ, tc.code, tc.attempts, st, why, tc.want, tc.wantWhy)
		}
	}
}

// TestXMLValidatesAgainstNmapDTD validates the sample and an IPv6-only and
// an empty scan with xmllint against nmap's DTD, and checks that the same
// validation rejects a broken document and accepts nmap's own output.
func TestXMLValidatesAgainstNmapDTD(t *testing.T) {
	requireDTD(t)
	dir := t.TempDir()
	validate := func(name, doc string) error {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command("xmllint", "--noout", "--dtdvalid", nmapDTD, path).CombinedOutput()
		if err != nil {
			return fmt.Errorf("%v: %s", err, out)
		}
		return nil
	}
	docs := map[string]string{
		"sample.xml":   renderXML(t, nmapHeader, nmapSample, NmapStats{End: nmapEnd}),
		"ipv6.xml":     renderXML(t, nmapHeader, nmapSample[3:4], NmapStats{End: nmapEnd, Hosts: 1}),
		"empty.xml":    renderXML(t, nmapHeader, nil, NmapStats{End: nmapEnd, Err: errors.New("interrupted -- after 0 of 5 targets")}),
		"split.xml":    renderXML(t, NmapHeader{Start: nmapStart, MaxBuffered: 2}, nmapSample, NmapStats{End: nmapEnd}),
		"nmap-own.xml": mustRead(t, filepath.Join("testdata", "nmap-7.93-loopback.xml")),
	}
	for name, doc := range docs {
		if err := validate(name, doc); err != nil {
			t.Errorf("%s does not validate: %v\n%s", name, err, doc)
		}
	}
	// Negative control: a port without its state's reason is invalid.
	broken := strings.Replace(docs["sample.xml"], ` reason="syn-ack"`, "", 1)
	if broken == docs["sample.xml"] {
		t.Fatal("the sample has no syn-ack reason to remove")
	}
	if err := validate("broken.xml", broken); err == nil {
		t.Error("xmllint accepted a <state> without reason: the validation checks nothing")
	}
}

func mustRead(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// nmaprun is the part of nmap's XML the tests read back.
type nmaprun struct {
	Args     string `xml:"args,attr"`
	Scaninfo struct {
		Type        string `xml:"type,attr"`
		Protocol    string `xml:"protocol,attr"`
		NumServices int    `xml:"numservices,attr"`
		Services    string `xml:"services,attr"`
	} `xml:"scaninfo"`
	Hosts []struct {
		Address struct {
			Addr string `xml:"addr,attr"`
			Type string `xml:"addrtype,attr"`
		} `xml:"address"`
		Hostnames []struct {
			Name string `xml:"name,attr"`
		} `xml:"hostnames>hostname"`
		Ports []struct {
			Port  uint16 `xml:"portid,attr"`
			State struct {
				State  string `xml:"state,attr"`
				Reason string `xml:"reason,attr"`
				TTL    uint8  `xml:"reason_ttl,attr"`
			} `xml:"state"`
			Service struct {
				Name string `xml:"name,attr"`
			} `xml:"service"`
		} `xml:"ports>port"`
	} `xml:"host"`
	Runstats struct {
		Finished struct {
			Time    int64  `xml:"time,attr"`
			Elapsed string `xml:"elapsed,attr"`
			Summary string `xml:"summary,attr"`
			Exit    string `xml:"exit,attr"`
			Errmsg  string `xml:"errormsg,attr"`
		} `xml:"finished"`
		Hosts struct {
			Up    int `xml:"up,attr"`
			Total int `xml:"total,attr"`
		} `xml:"hosts"`
	} `xml:"runstats"`
}

func parseNmapXML(t *testing.T, doc string) nmaprun {
	t.Helper()
	var run nmaprun
	if err := xml.Unmarshal([]byte(doc), &run); err != nil {
		t.Fatalf("the XML does not parse: %v\n%s", err, doc)
	}
	return run
}

// TestXMLReadsBack decodes the sample and finds every result with its
// state, reason, TTL and service, each host once, and the run's facts.
func TestXMLReadsBack(t *testing.T) {
	doc := renderXML(t, nmapHeader, nmapSample, NmapStats{End: nmapEnd})
	run := parseNmapXML(t, doc)
	if run.Args != nmapHeader.Args {
		t.Errorf("args = %q, want %q", run.Args, nmapHeader.Args)
	}
	if si := run.Scaninfo; si.Type != "syn" || si.Protocol != "tcp" || si.Services != nmapHeader.Ports {
		t.Errorf("scaninfo = %+v", si)
	}
	type portKey struct {
		addr, name string
		port       uint16
	}
	got := make(map[portKey]string)
	hosts := make(map[string]int)
	for _, h := range run.Hosts {
		name := ""
		if len(h.Hostnames) > 0 {
			name = h.Hostnames[0].Name
		}
		hosts[h.Address.Addr+" "+name]++
		if want := map[bool]string{true: "ipv4", false: "ipv6"}[netip.MustParseAddr(h.Address.Addr).Is4()]; h.Address.Type != want {
			t.Errorf("%s: addrtype %s", h.Address.Addr, h.Address.Type)
		}
		for _, p := range h.Ports {
			got[portKey{h.Address.Addr, name, p.Port}] = fmt.Sprintf("%s/%s/%d/%s", p.State.State, p.State.Reason, p.State.TTL, p.Service.Name)
		}
	}
	for h, n := range hosts {
		if n != 1 {
			t.Errorf("host %s written %d times", h, n)
		}
	}
	if len(got) != len(nmapSample) {
		t.Errorf("%d ports read back for %d results", len(got), len(nmapSample))
	}
	for _, r := range nmapSample {
		addr := r.Result.Target.Addr()
		st, why := NmapPortState(r.Result)
		want := fmt.Sprintf("%s/%s/%d/%s", st, why, r.Result.TTL, serviceName(r.Result.Target.Port()))
		k := portKey{addr.String(), userHostName(r.Name, addr), r.Result.Target.Port()}
		if got[k] != want {
			t.Errorf("%v: read back %q, want %q", k, got[k], want)
		}
	}
	if got[portKey{"198.18.0.5", "db.example", 5432}] != "open/syn-ack/64/postgresql" {
		t.Errorf("db.example:5432 = %q", got[portKey{"198.18.0.5", "db.example", 5432}])
	}
	if got[portKey{"2001:db8::2", `we"ird<&>--name`, 1}] != "open/syn-ack/255/tcpmux" {
		t.Errorf("the escaped host name does not read back: %v", got)
	}
	f := run.Runstats.Finished
	if f.Time != nmapEnd.Unix() || f.Elapsed != "3.25" || f.Exit != "success" ||
		f.Summary != "Nmap done at Wed Nov 25 19:30:03 2026; 8 IP addresses (8 hosts up) scanned in 3.25 seconds" {
		t.Errorf("finished = %+v", f)
	}
	if run.Runstats.Hosts.Up != 8 || run.Runstats.Hosts.Total != 8 {
		t.Errorf("hosts = %+v", run.Runstats.Hosts)
	}

	failed := parseNmapXML(t, renderXML(t, nmapHeader, nil, NmapStats{End: nmapEnd, Hosts: 5, Err: errors.New("interrupted")}))
	if f := failed.Runstats.Finished; f.Exit != "error" || f.Errmsg != "interrupted" || failed.Runstats.Hosts.Total != 5 {
		t.Errorf("failed scan's runstats = %+v", failed.Runstats)
	}
}

// TestHostGrouping scans hosts × ports in a random order and checks what
// the buffer promises: with NumPorts every host is written once and at
// once when complete; with a small MaxBuffered nothing more than that is
// held, hosts may be split, and every result is written exactly once.
func TestHostGrouping(t *testing.T) {
	const hosts, ports = 200, 5
	var recs []Record
	for h := range hosts {
		addr := netip.AddrFrom4([4]byte{198, 18, byte(h >> 8), byte(h)})
		for p := range ports {
			ap := netip.AddrPortFrom(addr, uint16(8000+p))
			recs = append(recs, Record{Name: ap.String(), Result: rawcheck.Result{Target: ap, State: rawcheck.Closed, TTL: 64, Attempts: 1}, Time: nmapStart})
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	rng.Shuffle(len(recs), func(i, j int) { recs[i], recs[j] = recs[j], recs[i] })

	count := func(doc string) (elements int, results map[string]int) {
		results = make(map[string]int)
		for _, h := range parseNmapXML(t, doc).Hosts {
			elements++
			for _, p := range h.Ports {
				results[fmt.Sprintf("%s:%d", h.Address.Addr, p.Port)]++
			}
		}
		return elements, results
	}
	check := func(name string, h NmapHeader, wantElements func(int) bool) {
		var buf bytes.Buffer
		w := NewXMLWriter(&buf, h)
		limit := h.MaxBuffered
		if limit == 0 {
			limit = DefaultMaxBuffered
		}
		for _, r := range recs {
			if err := w.Write(r); err != nil {
				t.Fatal(err)
			}
			if w.g.held >= limit || (h.NumPorts > 0 && w.g.held > hosts*(h.NumPorts-1)) {
				t.Fatalf("%s: %d results held", name, w.g.held)
			}
		}
		if err := w.Close(NmapStats{End: nmapEnd}); err != nil {
			t.Fatal(err)
		}
		elements, results := count(buf.String())
		if !wantElements(elements) {
			t.Errorf("%s: %d <host> elements for %d hosts", name, elements, hosts)
		}
		if len(results) != hosts*ports {
			t.Errorf("%s: %d distinct results written, want %d", name, len(results), hosts*ports)
		}
		for k, n := range results {
			if n != 1 {
				t.Errorf("%s: %s written %d times", name, k, n)
			}
		}
	}
	check("complete hosts", NmapHeader{Start: nmapStart, NumPorts: ports}, func(n int) bool { return n == hosts })
	check("default buffer", NmapHeader{Start: nmapStart}, func(n int) bool { return n == hosts })
	check("small buffer", NmapHeader{Start: nmapStart, MaxBuffered: 64}, func(n int) bool { return n > hosts })

	// With one port per host nothing waits: the host is out at the next Flush.
	var buf bytes.Buffer
	w := NewGrepableWriter(&buf, NmapHeader{Start: nmapStart, NumPorts: 1})
	w.Write(nmapSample[0])
	w.Flush()
	if !strings.Contains(buf.String(), "Host: 198.18.0.5 (db.example)\tPorts: 5432/open/tcp//postgresql///\n") {
		t.Errorf("a complete host was not written at once:\n%s", buf.String())
	}
	if w.g.held != 0 {
		t.Errorf("%d results held after a complete host", w.g.held)
	}
}

// Grepable lines as nmap documents -oG (nmap's book, "Grepable Output"):
// tab-separated fields after "Host: ADDR (NAME)"; ports as
// port/state/protocol/owner/service/rpc info/version info/, joined by ", ".
var (
	grepableHeader = regexp.MustCompile(`^# Nmap \S+ scan initiated [A-Z][a-z]{2} [A-Z][a-z]{2} [ 0-9]\d \d\d:\d\d:\d\d \d{4} as: .+$`)
	grepableStatus = regexp.MustCompile(`^Host: [0-9a-f.:]+ \([^()\t]*\)\tStatus: (Up|Down)$`)
	grepablePorts  = regexp.MustCompile(`^Host: [0-9a-f.:]+ \([^()\t]*\)\tPorts: (\d+/(open|closed|filtered)/tcp//[^/,]*///)(, \d+/(open|closed|filtered)/tcp//[^/,]*///)*$`)
	grepableFooter = regexp.MustCompile(`^# Nmap done at [A-Z][a-z]{2} [A-Z][a-z]{2} [ 0-9]\d \d\d:\d\d:\d\d \d{4} -- \d+ IP address(es)? \(\d+ hosts? up\) scanned in \d+\.\d\d seconds$`)
)

// checkGrepableLayout checks every line of doc against nmap's -oG layout.
func checkGrepableLayout(t *testing.T, name, doc string) {
	t.Helper()
	lines := strings.Split(strings.TrimSuffix(doc, "\n"), "\n")
	if len(lines) < 2 || !grepableHeader.MatchString(lines[0]) || !grepableFooter.MatchString(lines[len(lines)-1]) {
		t.Errorf("%s: header or footer out of nmap's layout:\n%s", name, doc)
		return
	}
	body := lines[1 : len(lines)-1]
	if len(body)%2 != 0 {
		t.Errorf("%s: Status and Ports lines do not pair:\n%s", name, doc)
	}
	for i, line := range body {
		re := grepableStatus
		if i%2 == 1 {
			re = grepablePorts
			if host, _, _ := strings.Cut(line, "\t"); !strings.HasPrefix(body[i-1], host+"\t") {
				t.Errorf("%s: Ports line %q follows another host's Status line", name, line)
			}
		}
		if !re.MatchString(line) {
			t.Errorf("%s: line %q is out of nmap's layout", name, line)
		}
	}
}

func TestGrepableLayout(t *testing.T) {
	// The patterns accept nmap's own -oG output...
	checkGrepableLayout(t, "nmap's own", mustRead(t, filepath.Join("testdata", "nmap-7.93-loopback.gnmap")))
	// ... and rawprobe's.
	doc := renderGrepable(t, nmapHeader, nmapSample, NmapStats{End: nmapEnd})
	checkGrepableLayout(t, "rawprobe's", doc)
	for _, want := range []string{
		"# Nmap rawprobe-test scan initiated Wed Nov 25 19:30:00 2026 as: " + nmapHeader.Args + "\n",
		"Host: 198.18.0.5 (db.example)\tStatus: Up\nHost: 198.18.0.5 (db.example)\tPorts: 22/closed/tcp//ssh///, 5432/open/tcp//postgresql///\n",
		"Host: 198.18.0.6 ()\tPorts: 81/closed/tcp/////, 443/open/tcp//https///\n",
		"Host: 203.0.113.9 ()\tPorts: 22/filtered/tcp//ssh///, 443/filtered/tcp//https///\n",
		"Host: 198.51.100.1 ()\tPorts: 80/filtered/tcp//http///\n",
		"Host: 2001:db8::1 ()\tPorts: 443/filtered/tcp//https///\n",
		"# Nmap done at Wed Nov 25 19:30:03 2026 -- 8 IP addresses (8 hosts up) scanned in 3.25 seconds\n",
	} {
		if !strings.Contains(doc, want) {
			t.Errorf("grepable output lacks %q:\n%s", want, doc)
		}
	}
	// Negative control: a port entry missing one of its seven fields.
	if grepablePorts.MatchString("Host: 198.18.0.5 ()\tPorts: 22/closed/tcp//ssh//") {
		t.Error("the Ports pattern accepts a truncated port entry")
	}
	one := renderGrepable(t, NmapHeader{Start: nmapStart, Args: "rawprobe x"}, nmapSample[:1], NmapStats{End: nmapStart.Add(40 * time.Millisecond)})
	if !strings.HasSuffix(one, "# Nmap done at Wed Nov 25 19:30:00 2026 -- 1 IP address (1 host up) scanned in 0.04 seconds\n") ||
		!strings.HasPrefix(one, "# Nmap rawprobe scan initiated ") {
		t.Errorf("one-host scan:\n%s", one)
	}
	failed := renderGrepable(t, nmapHeader, nil, NmapStats{End: nmapEnd, Err: errors.New("interrupted\nafter 3")})
	if !strings.Contains(failed, "\n# interrupted?after 3\n# Nmap done at ") {
		t.Errorf("failed scan:\n%s", failed)
	}
}

func TestNmapWritersRefuseAfterClose(t *testing.T) {
	x := NewXMLWriter(&bytes.Buffer{}, nmapHeader)
	x.Close(NmapStats{End: nmapEnd})
	if x.Write(nmapSample[0]) == nil || x.Close(NmapStats{End: nmapEnd}) == nil {
		t.Error("XMLWriter accepted a write or a Close after Close")
	}
	g := NewGrepableWriter(&bytes.Buffer{}, nmapHeader)
	g.Close(NmapStats{End: nmapEnd})
	if g.Write(nmapSample[0]) == nil || g.Close(NmapStats{End: nmapEnd}) == nil {
		t.Error("GrepableWriter accepted a write or a Close after Close")
	}
}

func TestAppendXMLText(t *testing.T) {
	for in, want := range map[string]string{
		`a<b>&"c'`:           "a&lt;b&gt;&amp;&quot;c&apos;",
		"--open ---x":        "-&#45;open -&#45;&#45;x",
		"tab\tnl\ncr\r":      "tab&#9;nl&#10;cr&#13;",
		"bell\x07 bad\xff ü": "bell\uFFFD bad\uFFFD ü",
	} {
		if got := string(appendXMLText(nil, in)); got != want {
			t.Errorf("appendXMLText(%q) = %q, want %q", in, got, want)
		}
	}
}

// runNdiff runs ndiff on two XML documents and returns its output and
// exit status (0: no difference, 1: differences, 2: error).
func runNdiff(t *testing.T, a, b string) (string, int) {
	t.Helper()
	dir := t.TempDir()
	pa, pb := filepath.Join(dir, "a.xml"), filepath.Join(dir, "b.xml")
	if err := os.WriteFile(pa, []byte(a), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(pb, []byte(b), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("ndiff", pa, pb).CombinedOutput()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return string(out), 0
	case errors.As(err, &exit):
		return string(out), exit.ExitCode()
	}
	t.Fatalf("ndiff: %v", err)
	return "", 0
}

// TestNdiff compares two scans with ndiff: the second finds one port
// closed that the first found open, its results arriving in another order.
func TestNdiff(t *testing.T) {
	requireTool(t, "ndiff", "ndiff")
	before := renderXML(t, nmapHeader, nmapSample, NmapStats{End: nmapEnd})

	// Negative control: the same scan, its results in another order.
	shuffled := append([]Record(nil), nmapSample...)
	rand.New(rand.NewPCG(3, 4)).Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	if out, code := runNdiff(t, before, renderXML(t, nmapHeader, shuffled, NmapStats{End: nmapEnd})); code != 0 {
		t.Errorf("ndiff finds differences (exit %d) between one scan's results in two orders:\n%s", code, out)
	}

	changed := append([]Record(nil), shuffled...)
	for i, r := range changed {
		if r.Result.Target == netip.MustParseAddrPort("198.18.0.6:443") {
			changed[i].Result.State = rawcheck.Closed
		}
	}
	out, code := runNdiff(t, before, renderXML(t, nmapHeader, changed, NmapStats{End: nmapEnd}))
	if code != 1 {
		t.Fatalf("ndiff exit %d, want 1 (differences):\n%s", code, out)
	}
	for _, want := range []string{" 198.18.0.6:\n", "\n-443/tcp open   https\n", "\n+443/tcp closed https\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("ndiff output lacks %q:\n%s", want, out)
		}
	}
	if n := strings.Count(out, "/tcp"); n != 2 {
		t.Errorf("ndiff reports %d port lines, want the 2 of 443/tcp:\n%s", n, out)
	}
}

// TestNdiffRepeatedHosts shows what ndiff does with a host split over
// several <host> elements: it accepts the file and pairs the elements of
// one host in file order, so scans split alike compare port by port, and
// scans split differently show differences that are only the split.
func TestNdiffRepeatedHosts(t *testing.T) {
	requireTool(t, "ndiff", "ndiff")
	const ports = 4
	var recs []Record
	for p := range ports {
		for _, a := range []string{"198.18.0.1", "198.18.0.2"} {
			ap := netip.AddrPortFrom(netip.MustParseAddr(a), uint16(8000+p))
			recs = append(recs, Record{Name: ap.String(), Result: rawcheck.Result{Target: ap, State: rawcheck.Closed, TTL: 64, Attempts: 1}, Time: nmapStart})
		}
	}
	split := NmapHeader{Start: nmapStart, MaxBuffered: 4} // each host's ports in two elements
	a := renderXML(t, split, recs, NmapStats{End: nmapEnd})
	if n := strings.Count(a, "<address addr=\"198.18.0.1\""); n != 2 {
		t.Fatalf("host written %d times, want 2 (split):\n%s", n, a)
	}
	changed := append([]Record(nil), recs...)
	changed[len(changed)-1].Result.State = rawcheck.Open // 198.18.0.2:8003
	out, code := runNdiff(t, a, renderXML(t, split, changed, NmapStats{End: nmapEnd}))
	if code != 1 || !strings.Contains(out, "-8003/tcp closed") || !strings.Contains(out, "+8003/tcp open") || strings.Count(out, "/tcp") != 2 {
		t.Errorf("scans split alike: ndiff exit %d, want 1 reporting 8003/tcp only:\n%s", code, out)
	}
	whole := renderXML(t, NmapHeader{Start: nmapStart}, recs, NmapStats{End: nmapEnd})
	out, code = runNdiff(t, a, whole)
	if code != 1 || !strings.Contains(out, "\n-198.18.0.1:\n-Host is up.\n") {
		t.Errorf("scans split differently: ndiff exit %d, want 1 (the split shows as differences):\n%s", code, out)
	}
}

func BenchmarkNmapWriters(b *testing.B) {
	for name, open := range map[string]func(io.Writer, NmapHeader) Writer{
		"xml":      func(w io.Writer, h NmapHeader) Writer { return NewXMLWriter(w, h) },
		"grepable": func(w io.Writer, h NmapHeader) Writer { return NewGrepableWriter(w, h) },
	} {
		b.Run(name, func(b *testing.B) {
			w := open(io.Discard, NmapHeader{Start: nmapStart, NumPorts: 1})
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				w.Write(nmapSample[i%len(nmapSample)])
			}
		})
	}
}
