package netlab

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"
	"testing"
	"time"
)

// Networks built at the same time are separate: a listener in one is not
// reachable from the prober of another, although their addresses are
// the same.
func TestParallelNetsIsolated(t *testing.T) {
	t.Parallel()
	requirePrivileges(t)
	const nets = 4
	ns := make([]*Net, nets)
	errs := make(chan error, nets)
	for i := range nets {
		go func() {
			n, remove, err := Setup()
			if err == nil {
				ns[i] = n
				t.Cleanup(func() {
					if err := remove(); err != nil {
						t.Error(err)
					}
				})
			}
			errs <- err
		}()
	}
	for range nets {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	ls := make([]*Listener, nets)
	for i, n := range ns {
		ls[i] = listenTest(t, n, "tcp", fmt.Sprintf(":%d", 1000+i))
	}
	for i, n := range ns {
		for j := range ns {
			dst := netip.AddrPortFrom(n.Answering4.Addr().Next(), uint16(1000+j))
			err := n.InProber(func() error {
				c, err := net.DialTimeout("tcp", dst.String(), 5*time.Second)
				if err == nil {
					c.Close()
				}
				return err
			})
			if i == j && err != nil {
				t.Errorf("net %d: dial own listener %v: %v", i, dst, err)
			}
			if i != j && !errors.Is(err, syscall.ECONNREFUSED) {
				t.Errorf("net %d: dial %v (only net %d listens there): %v, want connection refused", i, dst, j, err)
			}
		}
	}
	for i, l := range ls {
		if got := l.WaitAccepted(1, 5*time.Second); got != 1 {
			t.Errorf("net %d accepted %d, want 1", i, got)
		}
	}
}
