package rawcheck

import (
	"testing"
	"time"
)

// TestSendBackoff checks the pause: none without losses (the negative
// control: batches that lose nothing never slow down, and unchanged ring
// drop counts are not losses), doubling per loss up to the maximum, and
// halving per quiet backoffRecovery back to none.
func TestSendBackoff(t *testing.T) {
	var b sendBackoff
	ms := int64(time.Millisecond)
	b.observe(0, false, 0)
	b.observe(1*ms, false, 0)
	if p := b.current(2 * ms); p != 0 || b.backoffs() != 0 {
		t.Fatalf("no loss: pause %v after %d backoffs, want none", p, b.backoffs())
	}
	b.observe(3*ms, false, 5) // ring drops
	if p := b.current(3 * ms); p != backoffMinPause {
		t.Fatalf("after ring drops: pause %v, want %v", p, backoffMinPause)
	}
	b.observe(4*ms, false, 5) // the same count: no new drop
	b.observe(4*ms, true, 5)  // ENOBUFS
	if p := b.current(4 * ms); p != 2*backoffMinPause || b.backoffs() != 2 {
		t.Fatalf("after ENOBUFS: pause %v after %d backoffs, want %v after 2", p, b.backoffs(), 2*backoffMinPause)
	}
	for i := range 20 {
		b.observe(int64(5+i)*ms, true, 5)
	}
	if p := b.current(25 * ms); p != backoffMaxPause {
		t.Fatalf("after 22 losses: pause %v, want the maximum %v", p, backoffMaxPause)
	}
	last := int64(24 * ms)
	if p := b.current(last + int64(backoffRecovery)); p != backoffMaxPause/2 {
		t.Errorf("one quiet interval: pause %v, want %v", p, backoffMaxPause/2)
	}
	if p := b.current(last + 20*int64(backoffRecovery)); p != 0 {
		t.Errorf("twenty quiet intervals: pause %v, want none", p)
	}
}
