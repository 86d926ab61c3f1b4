package rawcheck

import (
	"testing"
	"time"
)

// TestRingBlocks checks that the receive ring grows with the rate and the
// timeout, within its bounds.
func TestRingBlocks(t *testing.T) {
	for _, tc := range []struct {
		rate    int
		timeout time.Duration
		want    int
	}{
		{10_000, time.Second, ringMinBlocks},            // 500 replies: 5 blocks
		{100_000, time.Second, ringMinBlocks},           // 3,500 replies: 35 blocks
		{100_000, 10 * time.Millisecond, ringMinBlocks}, // 1,000 replies
		{300_000, 20 * time.Millisecond, ringMinBlocks}, // 6,000 replies: 59 blocks
		{300_000, time.Second, 103},                     // 10,500 replies
		{0, time.Second, 342},                           // unlimited: 35,000 replies
		{10_000_000, time.Second, ringMaxBlocks},        // capped
		{300_000, 0, 103},                               // no timeout: ringStall
	} {
		got := ringBlocks(tc.rate, tc.timeout)
		if got != tc.want {
			t.Errorf("ringBlocks(%d, %v) = %d, want %d", tc.rate, tc.timeout, got, tc.want)
		}
	}
}
