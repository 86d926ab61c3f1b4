package privdrop

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
	"kernel.org/pub/linux/libs/security/libcap/cap"
	"kernel.org/pub/linux/libs/security/libcap/psx"
)

// capabilities maps this package's Capability to libcap's values.
var capabilities = map[Capability]cap.Value{
	NetAdmin: cap.NET_ADMIN,
	SysAdmin: cap.SYS_ADMIN,
}

// Drop removes every capability from every thread of the process, except
// those in keep, which stay permitted (and in the bounding set, so that a
// program run as root may use them) but not effective. It returns an
// error, and the process must not go on as if unprivileged, when any
// thread still has an effective capability afterwards or keeps a permitted
// one not asked for.
func Drop(keep ...Capability) error {
	var kept []cap.Value
	var keepMask uint64
	for _, k := range keep {
		v, ok := capabilities[k]
		if !ok {
			return fmt.Errorf("privdrop: unknown capability %d", k)
		}
		kept = append(kept, v)
		keepMask |= 1 << uint(v)
	}
	if err := drop(kept, keepMask); err != nil {
		return err
	}
	return verify(keepMask)
}

// drop does the work of Drop: no_new_privs, ambient, bounding, then the
// process's three sets.
func drop(kept []cap.Value, keepMask uint64) error {
	if err := noNewPrivs(); err != nil {
		return fmt.Errorf("privdrop: setting no_new_privs: %w", err)
	}
	if err := cap.ResetAmbient(); err != nil && !errors.Is(err, unix.EINVAL) { // EINVAL: a kernel without ambient capabilities
		return fmt.Errorf("privdrop: clearing the ambient set: %w", err)
	}
	cur := cap.GetProc()
	if canSetPCAP, _ := cur.GetFlag(cap.Permitted, cap.SETPCAP); canSetPCAP {
		// Dropping from the bounding set needs CAP_SETPCAP effective.
		raise, err := cur.Dup()
		if err != nil {
			return err
		}
		if err := raise.SetFlag(cap.Effective, true, cap.SETPCAP); err != nil {
			return err
		}
		if err := raise.SetProc(); err != nil {
			return fmt.Errorf("privdrop: raising CAP_SETPCAP: %w", err)
		}
		for v := cap.Value(0); v < cap.MaxBits(); v++ {
			if keepMask&(1<<uint(v)) != 0 {
				continue
			}
			if in, err := cap.GetBound(v); err != nil || !in {
				continue
			}
			if err := cap.DropBound(v); err != nil {
				return fmt.Errorf("privdrop: dropping %s from the bounding set: %w", v, err)
			}
		}
	}
	want := cap.NewSet()
	if len(kept) > 0 {
		if err := want.SetFlag(cap.Permitted, true, kept...); err != nil {
			return err
		}
	}
	if err := want.SetProc(); err != nil {
		return fmt.Errorf("privdrop: clearing the capability sets: %w", err)
	}
	return nil
}

// noNewPrivs sets no_new_privs on every thread: no program the process
// executes gains a capability (by set-user-ID or file capabilities) that
// the process has not got.
func noNewPrivs() error {
	if _, _, errno := psx.Syscall6(unix.SYS_PRCTL, unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0, 0); errno != 0 {
		return os.NewSyscallError("prctl", errno)
	}
	return nil
}

// verify reads the status of every thread of the process and fails, naming
// the thread, when one has an effective or ambient capability, a permitted
// one outside keepMask, or no no_new_privs.
func verify(keepMask uint64) error {
	tasks, err := filepath.Glob("/proc/self/task/*/status")
	if err != nil {
		return fmt.Errorf("privdrop: cannot list the threads in /proc/self/task: %w", err)
	}
	if len(tasks) == 0 {
		return errors.New("privdrop: cannot list the threads in /proc/self/task: no thread status files")
	}
	for _, name := range tasks {
		st, err := ReadStatus(name)
		if errors.Is(err, os.ErrNotExist) {
			continue // the thread exited
		}
		if err != nil {
			return err
		}
		switch {
		case st.Effective != 0:
			err = fmt.Errorf("CapEff %016x", st.Effective)
		case st.Permitted&^keepMask != 0:
			err = fmt.Errorf("CapPrm %016x, want at most %016x", st.Permitted, keepMask)
		case st.Ambient != 0:
			err = fmt.Errorf("CapAmb %016x", st.Ambient)
		case !st.NoNewPrivs:
			err = errors.New("NoNewPrivs 0")
		}
		if err != nil {
			return fmt.Errorf("privdrop: capabilities not dropped: %s has %v", name, err)
		}
	}
	return nil
}
