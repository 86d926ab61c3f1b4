package netlab_test

import (
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/rawprobe/rawprobe/internal/verify/netlab"
)

// A program (not a test) builds a network, listens on port 80 of every
// answering address and dials one of them from the prober namespace.
// (Not run: it needs privileges.)
func ExampleSetup() {
	n, remove, err := netlab.Setup()
	if err != nil {
		fmt.Println(err) // e.g. what privilege is missing
		return
	}
	defer remove()
	l, err := n.Listen("tcp", ":80")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer l.Close()
	target := netip.AddrPortFrom(n.Answering4.Addr().Next(), 80)
	err = n.InProber(func() error {
		c, err := net.DialTimeout("tcp", target.String(), time.Second)
		if err != nil {
			return err
		}
		return c.Close()
	})
	fmt.Println(err, l.WaitAccepted(1, time.Second))
}

func ExampleNth() {
	p := netip.MustParsePrefix("198.18.0.0/16")
	fmt.Println(netlab.Nth(p, 0), netlab.Nth(p, 5), netlab.Nth(p, 300))
	// Output: 198.18.0.0 198.18.0.5 198.18.1.44
}
