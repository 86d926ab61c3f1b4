package compat_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	tcp "github.com/rawprobe/rawprobe/compat"
)

// The tcp-shaker way: start the loop, wait until it is ready, check.
func ExampleChecker() {
	ln, err := net.Listen("tcp4", "127.0.0.1:0") // something to find open
	if err != nil {
		fmt.Println(err)
		return
	}
	defer ln.Close()

	c := tcp.NewChecker()
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	go c.CheckingLoop(ctx)
	<-c.WaitReady()

	switch err := c.CheckAddr(ln.Addr().String(), time.Second); {
	case err == nil:
		fmt.Println("open")
	case err == tcp.ErrTimeout:
		fmt.Println("no answer in time")
	default:
		var ce *tcp.ErrConnect
		if errors.As(err, &ce) {
			fmt.Println("refused or unreachable, errno", ce.ErrorCode())
		} else {
			fmt.Println("error:", err)
		}
	}
	// Output: open
}

// Malformed input is refused before anything is sent.
func ExampleChecker_CheckAddr_malformed() {
	c := tcp.NewChecker()
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	go c.CheckingLoop(ctx)
	<-c.WaitReady()

	fmt.Println(c.CheckAddr("192.0.2.1:99999", time.Second))
	fmt.Println(c.CheckAddr("nonsense", time.Second))
	// Output:
	// check tcp: address 192.0.2.1:99999: port 99999 out of range 1-65535
	// check tcp: address nonsense: missing port in address (want host:port)
}
