package output_test

import (
	"net/netip"
	"os"
	"strconv"
	"time"

	"github.com/rawprobe/rawprobe/internal/cli/output"
	"github.com/rawprobe/rawprobe/rawcheck"
)

func ExampleNewGrepableWriter() {
	start := time.Date(2026, 11, 25, 20, 0, 0, 0, time.UTC)
	w := output.NewGrepableWriter(os.Stdout, output.NmapHeader{
		Args:     "rawprobe -p 22,5432 -oG - db.example",
		Start:    start,
		Version:  "rawprobe",
		Ports:    "22,5432",
		NumPorts: 2, // a host is written once both its ports are in
	})
	for _, r := range []rawcheck.Result{
		{Target: netip.MustParseAddrPort("198.18.0.5:5432"), State: rawcheck.Open, RTT: 812 * time.Microsecond, Attempts: 1, TTL: 64},
		{Target: netip.MustParseAddrPort("198.18.0.5:22"), State: rawcheck.Timeout, Attempts: 3},
	} {
		w.Write(output.Record{Name: "db.example:" + strconv.Itoa(int(r.Target.Port())), Result: r, Time: start.Add(time.Second)})
	}
	w.Close(output.NmapStats{End: start.Add(3 * time.Second), Hosts: 1})
	// Output:
	// # Nmap rawprobe scan initiated Wed Nov 25 20:00:00 2026 as: rawprobe -p 22,5432 -oG - db.example
	// Host: 198.18.0.5 (db.example)	Status: Up
	// Host: 198.18.0.5 (db.example)	Ports: 22/filtered/tcp//ssh///, 5432/open/tcp//postgresql///
	// # Nmap done at Wed Nov 25 20:00:03 2026 -- 1 IP address (1 host up) scanned in 3.00 seconds
}
