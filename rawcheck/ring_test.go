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
		{100_000, time.Second, ringMinBlocks},           // 5,000 replies: 49 blocks
		{100_000, 10 * time.Millisecond, ringMinBlocks}, // 1,000 replies
		{300_000, 20 * time.Millisecond, ringMinBlocks}, // 6,000 replies: 59 blocks
		{300_000, time.Second, 147},                     // 15,000 replies
		{0, time.Second, 489},                           // unlimited: 50,000 replies
		{10_000_000, time.Second, ringMaxBlocks},        // capped
		{300_000, 0, 147},                               // no timeout: ringStall
	} {
		got := ringBlocks(tc.rate, tc.timeout)
		if got != tc.want {
			t.Errorf("ringBlocks(%d, %v) = %d, want %d", tc.rate, tc.timeout, got, tc.want)
		}
	}
}
