package synack

import (
	"testing"
	"unsafe"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// attach loads prog onto a fresh UDP socket with SO_ATTACH_FILTER, which
// makes the kernel's classic BPF checker judge it. Nothing is sent; no
// privilege is needed.
func attach(t *testing.T, prog []bpf.Instruction) error {
	t.Helper()
	raw, err := bpf.Assemble(prog)
	if err != nil {
		return err
	}
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatalf("socket: %v", err)
	}
	defer unix.Close(fd)
	filter := make([]unix.SockFilter, len(raw))
	for i, r := range raw {
		filter[i] = unix.SockFilter{Code: r.Op, Jt: r.Jt, Jf: r.Jf, K: r.K}
	}
	fprog := unix.SockFprog{Len: uint16(len(filter)), Filter: (*unix.SockFilter)(unsafe.Pointer(&filter[0]))}
	return unix.SetsockoptSockFprog(fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &fprog)
}

// TestFilterKernelAccepts: the Linux kernel's checker accepts every Filter
// program, and (negative control) rejects a broken one.
func TestFilterKernelAccepts(t *testing.T) {
	for _, link := range []LinkType{LinkEthernet, LinkIP} {
		for _, r := range [][2]uint16{{0, 65535}, {40000, 40999}, {443, 443}} {
			prog, err := Filter(link, r[0], r[1])
			if err != nil {
				t.Fatal(err)
			}
			if err := attach(t, prog); err != nil {
				t.Errorf("%v %v: kernel rejects the filter: %v", link, r, err)
			}
		}
	}
	prog, _ := Filter(LinkIP, 1, 2)
	broken := append([]bpf.Instruction(nil), prog[:len(prog)-2]...) // no return at the end
	if err := attach(t, broken); err == nil {
		t.Fatal("kernel accepted a filter without a final return; the check proves nothing")
	}
}
