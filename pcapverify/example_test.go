package pcapverify_test

import (
	"fmt"

	"github.com/rawprobe/rawprobe/pcapverify"
)

func ExampleAnalyzeFile() {
	r, err := pcapverify.AnalyzeFile("testdata/halfopen.pcap")
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, f := range r.Flows {
		fmt.Printf("%v -> %v: %v, prober RSTs %d\n", f.Prober, f.Target, f.Reply, f.ProberRSTs)
	}
	fmt.Println("violations:", r.Err())
	fmt.Println(r.Gap)
	// Output:
	// 198.19.254.1:40000 -> 198.18.0.1:80: syn-ack, prober RSTs 1
	// 198.19.254.1:40000 -> 198.18.0.1:81: rst, prober RSTs 0
	// [2001:db8:ffff::1]:40001 -> [2001:db8:e::1]:80: icmp, prober RSTs 0
	// 198.19.254.1:40000 -> 198.19.0.1:80: none, prober RSTs 0
	// violations: <nil>
	// SYN-ACK->RST gap over 1 flows: p50 25µs, p99 25µs, max 25µs
}

// A test in another project asserts that its health checks never completed
// a handshake in the capture it took (with tcpdump, say).
func Example_noCompletedHandshake() {
	r, err := pcapverify.AnalyzeFile("testdata/halfopen.pcap")
	if err != nil {
		fmt.Println(err) // t.Fatal in a test
		return
	}
	for _, f := range r.Flows {
		if f.Completed {
			fmt.Printf("%v -> %v: handshake completed\n", f.Prober, f.Target) // t.Errorf
		}
	}
	fmt.Printf("%d flows, %d completed\n", len(r.Flows), r.CompletedFlows)
	// Output:
	// 4 flows, 0 completed
}
