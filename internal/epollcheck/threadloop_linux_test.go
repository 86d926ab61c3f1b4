package epollcheck

import (
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// runThreadLoop is the reference the issue quotes: threads OS threads each
// doing socket, connect, poll, close in a loop (no epoll, no Go
// scheduling; same socket options as the engine). It measures what the
// kernel allows on the machine at hand, and shows the ACKs such a loop
// leaks when a thread is descheduled between SYN-ACK and close.
func runThreadLoop(b *testing.B, threads int, target netip.AddrPort) {
	var next, refused atomic.Int64
	var failed atomic.Value
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for range threads {
		wg.Add(1)
		go func() {
			defer wg.Done()
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			for next.Add(1) <= int64(b.N) {
				fd, err := openCheckSocket(unix.AF_INET, true)
				if err != nil {
					failed.Store(err)
					return
				}
				if e := connectTo(fd, target, 0); e != unix.EINPROGRESS {
					unix.Close(fd)
					failed.Store(error(e))
					return
				}
				pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLOUT}}
				for {
					if _, err := unix.Poll(pfd, 5000); err != unix.EINTR {
						break
					}
				}
				e := socketError(fd)
				unix.Close(fd)
				if e == unix.ECONNREFUSED {
					refused.Add(1) // the 4-tuple reuse race, see TestLoadPcap50k
				} else if e != 0 {
					failed.Store(error(e))
					return
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	if err := failed.Load(); err != nil {
		b.Fatalf("thread loop: %v", err)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "checks/s")
	b.ReportMetric(float64(refused.Load()), "refused")
}
