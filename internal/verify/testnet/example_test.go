package testnet_test

import (
	"fmt"
	"testing"

	"github.com/rawprobe/rawprobe/internal/verify/testnet"
)

// A test whose prober side runs in a child process inside the prober
// namespace. (Not run: it needs a *testing.T and privileges.)
func Example() {
	_ = func(t *testing.T) {
		if n, ok := testnet.Child(); ok {
			// Prober side: every socket made here is in the prober
			// namespace. Probe n.Answering4 addresses, t.Error on
			// wrong results.
			_ = n
			return
		}
		n := testnet.New(t, testnet.WithLoss(0.01))
		l := n.Listen(t, "tcp", ":80") // port 80 on every answering address
		n.RunInProber(t)
		if l.Accepted() != 0 {
			t.Errorf("the target accepted %d connections", l.Accepted())
		}
	}
}

func ExampleRunPattern() {
	fmt.Println(testnet.RunPattern("TestOpen/v6 port 80"))
	// Output: ^TestOpen$/^v6 port 80$
}
