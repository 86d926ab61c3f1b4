package epollcheck

import (
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rawprobe/rawprobe/internal/verify/loopback"
)

// runConcurrent calls check b.N times from conc goroutines and reports
// checks/s; it fails b on the first error.
func runConcurrent(b *testing.B, conc int, check func() error) {
	b.Helper()
	var next atomic.Int64
	var firstErr atomic.Pointer[error]
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(b.N) {
				if err := check(); err != nil {
					e := err
					firstErr.CompareAndSwap(nil, &e)
					return
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	if p := firstErr.Load(); p != nil {
		b.Fatalf("check failed: %v", *p)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "checks/s")
}

// BenchmarkLoopback measures checks/s against an open loopback port, the
// epoll engine beside net.Dialer connect+close, at concurrency 100 and
// 1000. It needs no privileges; the test-network figures come from
// BenchmarkTestnet.
func BenchmarkLoopback(b *testing.B) {
	l := loopback.Listen(b, "tcp4")
	addr := l.Addr().String()
	for _, conc := range []int{100, 1000} {
		b.Run("engine/conc="+itoa(conc), func(b *testing.B) {
			c := startedEngine(b)
			b.ReportAllocs()
			// Refusals of the open port: the kernel's 4-tuple reuse
			// race (see TestLoadPcap50k), counted, not fatal.
			var refused atomic.Int64
			runConcurrent(b, conc, func() error {
				return outcomeErr(checkAddr(c, addr, 5*time.Second), &refused)
			})
			b.ReportMetric(float64(refused.Load()), "refused")
		})
		b.Run("dialer/conc="+itoa(conc), func(b *testing.B) {
			// The dialer completes the handshake: drain the accept queue.
			go func() {
				for {
					c, err := l.Accept()
					if err != nil {
						return
					}
					c.Close()
				}
			}()
			b.ReportAllocs()
			d := net.Dialer{Timeout: 5 * time.Second}
			runConcurrent(b, conc, func() error {
				c, err := d.Dial("tcp", addr)
				if err != nil {
					return err
				}
				c.(*net.TCPConn).SetLinger(0)
				return c.Close()
			})
		})
	}
}

// outcomeErr returns nil for Open, counts a Refused in refused and
// returns nil, and returns an error describing any other outcome.
func outcomeErr(o Outcome, refused *atomic.Int64) error {
	switch o.Kind {
	case Open:
		return nil
	case Refused:
		refused.Add(1)
		return nil
	}
	return fmt.Errorf("outcome %v (errno %d, err %v)", o.Kind, o.Errno, o.Err)
}

func itoa(n int) string {
	var b []byte
	for {
		b = append([]byte{byte('0' + n%10)}, b...)
		n /= 10
		if n == 0 {
			return string(b)
		}
	}
}
