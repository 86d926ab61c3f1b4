package netlab

import (
	"fmt"
	"os"
	"os/exec"
	"slices"
	"testing"
	"time"
)

// RemoveStale deletes only namespaces that are old and whose creator is
// gone, and names them.
func TestRemoveStale(t *testing.T) {
	requirePrivileges(t)
	deadPID := 0
	for pid := 4194000; pid < 4194300; pid++ { // near pid_max: free
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); os.IsNotExist(err) {
			deadPID = pid
			break
		}
	}
	if deadPID == 0 {
		t.Fatal("no free pid found")
	}
	old := time.Now().Add(-time.Hour).Unix()
	now := time.Now().Unix()
	id := randomHex(4)
	stale := fmt.Sprintf("%s%d-%x-%s-p", nsPrefix, deadPID, old, id)
	alive := fmt.Sprintf("%s%d-%x-%s-p", nsPrefix, os.Getpid(), old, id)
	fresh := fmt.Sprintf("%s%d-%x-%s-t", nsPrefix, deadPID, now, id)
	for _, ns := range []string{stale, alive, fresh} {
		if err := run(nil, "ip", "netns", "add", ns); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if _, err := os.Stat("/run/netns/" + ns); err == nil {
				exec.Command("ip", "netns", "del", ns).Run()
			}
		})
	}
	removed := RemoveStale()
	if !slices.Contains(removed, stale) || slices.Contains(removed, alive) || slices.Contains(removed, fresh) {
		t.Errorf("RemoveStale returned %v, want %s among them and neither %s nor %s", removed, stale, alive, fresh)
	}
	exists := func(ns string) bool { _, err := os.Stat("/run/netns/" + ns); return err == nil }
	if exists(stale) {
		t.Errorf("stale namespace %s (dead creator, an hour old) not removed", stale)
	}
	if !exists(alive) {
		t.Errorf("namespace %s of a running process removed", alive)
	}
	if !exists(fresh) {
		t.Errorf("fresh namespace %s removed", fresh)
	}
}
