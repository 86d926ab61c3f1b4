package rawcheck

import (
	"testing"
	"time"
)

// TestRingBlocks checks that the receive ring grows with the rate and the
// timeout, within its bounds, and is a power of two.
func TestRingBlocks(t *testing.T) {
	for _, tc := range []struct {
		rate    int
		timeout time.Duration
		want    int
	}{
		{10_000, time.Second, 64},               // 2,500 replies: 30 blocks, the minimum
		{100_000, time.Second, 512},             // 25,000 replies: 293 blocks
		{100_000, 10 * time.Millisecond, 64},    // 1,000 replies
		{200_000, 100 * time.Millisecond, 256},  // 20,000 replies: 235 blocks
		{1_000_000, time.Second, ringMaxBlocks}, // capped
		{0, time.Second, ringMaxBlocks},         // unlimited rate
		{50_000, 0, 256},                        // no timeout: ringStall, 147 blocks
	} {
		got := ringBlocks(tc.rate, tc.timeout)
		if got != tc.want || got&(got-1) != 0 {
			t.Errorf("ringBlocks(%d, %v) = %d, want %d", tc.rate, tc.timeout, got, tc.want)
		}
	}
}
