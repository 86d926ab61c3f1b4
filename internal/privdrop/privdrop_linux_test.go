package privdrop_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"runtime"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/rawprobe/rawprobe/internal/privdrop"
	"github.com/rawprobe/rawprobe/internal/verify/testnet"
)

// envChild makes the test binary a child that drops (or, "keep", drops
// all but CAP_NET_ADMIN; "none", does not drop) and reports what it then
// has as JSON on stdout.
const envChild = "PRIVDROP_TEST_CHILD"

// childReport is what a child saw after its drop.
type childReport struct {
	DropErr string
	// Threads is every thread's status, read by the child itself.
	Threads []privdrop.Status
	// RawErr is opening a raw socket on some thread ("" = it opened).
	RawErr string
}

func TestMain(m *testing.M) {
	if mode := os.Getenv(envChild); mode != "" {
		os.Exit(child(mode))
	}
	os.Exit(m.Run())
}

// child starts several threads busy in system calls, so that the drop has
// more threads than its own to reach, drops, and reports.
func child(mode string) int {
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			runtime.LockOSThread() // a thread of its own, kept until stop
			<-stop
		})
	}
	var rep childReport
	var err error
	switch mode {
	case "all":
		err = privdrop.Drop()
	case "keep":
		err = privdrop.Drop(privdrop.NetAdmin)
	}
	if err != nil {
		rep.DropErr = err.Error()
	}
	close(stop)
	wg.Wait()
	tasks, _ := os.ReadDir("/proc/self/task")
	for _, task := range tasks {
		if st, err := privdrop.ReadStatus("/proc/self/task/" + task.Name() + "/status"); err == nil {
			rep.Threads = append(rep.Threads, st)
		}
	}
	// A raw socket on a fresh goroutine: any thread may run it.
	done := make(chan error)
	go func() {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_RAW, unix.IPPROTO_RAW)
		if err == nil {
			unix.Close(fd)
		}
		done <- err
	}()
	if err := <-done; err != nil {
		rep.RawErr = err.Error()
	}
	json.NewEncoder(os.Stdout).Encode(rep)
	return 0
}

// runChild runs the test binary as a child in mode and decodes its report.
func runChild(t *testing.T, mode string) childReport {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envChild+"="+mode)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("child %s: %v\n%s", mode, err, stderr.String())
	}
	var rep childReport
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatalf("child %s: %v: %q", mode, err, stdout.String())
	}
	if len(rep.Threads) < 2 {
		t.Fatalf("child %s reported %d threads, want several", mode, len(rep.Threads))
	}
	return rep
}

// TestDropAllThreads drops everything in a root child with several
// threads: every thread then has empty effective, permitted, bounding and
// ambient sets and no_new_privs, and a raw socket is refused. The child
// that does not drop (the negative control) has CAP_NET_RAW effective on
// every thread and opens the socket.
func TestDropAllThreads(t *testing.T) {
	testnet.RequirePrivileges(t)
	ctl := runChild(t, "none")
	if ctl.RawErr != "" {
		t.Fatalf("control child could not open a raw socket: %s", ctl.RawErr)
	}
	for i, st := range ctl.Threads {
		if st.Effective&(1<<unix.CAP_NET_RAW) == 0 || st.NoNewPrivs {
			t.Errorf("control thread %d: %+v, want CAP_NET_RAW effective and no no_new_privs", i, st)
		}
	}

	rep := runChild(t, "all")
	if rep.DropErr != "" {
		t.Fatalf("Drop: %s", rep.DropErr)
	}
	for i, st := range rep.Threads {
		if st != (privdrop.Status{NoNewPrivs: true}) {
			t.Errorf("thread %d after Drop: %+v, want every set empty and no_new_privs", i, st)
		}
	}
	if !errors.Is(errnoOf(rep.RawErr), unix.EPERM) {
		t.Errorf("raw socket after Drop: %q, want %v", rep.RawErr, unix.EPERM)
	}
}

// TestDropKeep keeps CAP_NET_ADMIN permitted and in the bounding set, not
// effective, and nothing else.
func TestDropKeep(t *testing.T) {
	testnet.RequirePrivileges(t)
	rep := runChild(t, "keep")
	if rep.DropErr != "" {
		t.Fatalf("Drop: %s", rep.DropErr)
	}
	want := privdrop.Status{Permitted: 1 << unix.CAP_NET_ADMIN, Bounding: 1 << unix.CAP_NET_ADMIN, NoNewPrivs: true}
	for i, st := range rep.Threads {
		if st != want {
			t.Errorf("thread %d: %+v, want %+v", i, st, want)
		}
	}
	if !errors.Is(errnoOf(rep.RawErr), unix.EPERM) {
		t.Errorf("raw socket after Drop: %q, want %v", rep.RawErr, unix.EPERM)
	}
}

// errnoOf turns an errno's message back into the errno.
func errnoOf(msg string) error {
	if msg == unix.EPERM.Error() {
		return unix.EPERM
	}
	return errors.New(msg)
}
