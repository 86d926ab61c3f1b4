package output_test

import (
	"net/netip"
	"os"
	"time"

	"github.com/rawprobe/rawprobe/internal/cli/output"
	"github.com/rawprobe/rawprobe/rawcheck"
)

func ExampleNewWriter() {
	w, _ := output.NewWriter("jsonl", os.Stdout)
	w.Write(output.Record{
		Name: "db.example:5432",
		Result: rawcheck.Result{
			Target: netip.MustParseAddrPort("198.18.0.5:5432"), State: rawcheck.Open,
			RTT: 812 * time.Microsecond, Attempts: 1, TTL: 64,
		},
		Time: time.Date(2026, 11, 25, 20, 0, 0, 0, time.UTC),
	})
	w.Flush()
	// Output:
	// {"target":"db.example:5432","ip":"198.18.0.5","port":5432,"service":"postgresql","state":"open","rtt_us":812,"attempts":1,"ttl":64,"icmp_type":0,"icmp_code":0,"time":"2026-11-25T20:00:00Z"}
}
