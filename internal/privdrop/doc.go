// Package privdrop drops the capabilities of the whole process once
// everything privileged has been opened.
//
// Linux keeps capabilities per thread, and a Go program runs on many
// threads, so a capset(2) on one of them leaves the others privileged.
// [Drop] changes every thread of the process (the Go runtime's and any
// cgo ones) through kernel.org/pub/linux/libs/security/libcap/cap, whose
// psx package runs each system call on all threads both with and without
// cgo (syscall.AllThreadsSyscall refuses to run in a cgo program). It sets
// no_new_privs, clears the ambient set, empties the bounding set where the
// process may (it needs CAP_SETPCAP, which root has and a binary with file
// capabilities has not), empties the effective, permitted and inheritable
// sets, and then reads /proc/self/task/*/status to check that no thread
// kept an effective capability.
//
// The user ID is not changed: a process that started as root still owns
// root's files after Drop, but it can no longer override file permissions,
// open raw sockets or change the network, and no program it executes
// regains a capability.
package privdrop
