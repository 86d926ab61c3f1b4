package compat

import (
	"testing"

	"github.com/rawprobe/rawprobe/internal/testnet"
)

// benchCapture will hold the pcap proof of a benchmark run.
type benchCapture struct{}

func startBenchCapture(testing.TB, *testnet.Net) *benchCapture { return &benchCapture{} }

func (*benchCapture) report(*testing.B, bool, func(float64, string)) {}
