package rawcheck

import (
	"context"
	"net"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"

	"github.com/rawprobe/rawprobe/internal/verify/testnet"
	"github.com/rawprobe/rawprobe/synack"
)

// benchPorts are the 16 ports scanned per address: 80 and 443 open, the
// rest closed.
var benchPorts = []uint16{80, 443, 21, 22, 23, 25, 53, 110, 111, 135, 139, 143, 445, 993, 995, 3389}

// benchNet is the test network of the benchmarks: the answering /16 with
// listeners on 80 and 443.
func benchNet(b *testing.B) *testnet.Net {
	n := testnet.New(b)
	n.Listen(b, "tcp", ":80")
	n.Listen(b, "tcp", ":443")
	return n
}

// targetDrops returns the target's counters of SYNs its listeners could not
// queue (SYN backlog or accept queue full) and of SYN cookies sent, which
// would mean the target, not the prober, limits the benchmark.
func targetDrops(b *testing.B, n *testnet.Net) (drops, cookies uint64) {
	c, err := n.TargetCounters()
	if err != nil {
		b.Fatal(err)
	}
	return c["TcpExt.ListenDrops"] + c["TcpExt.ListenOverflows"], c["TcpExt.SyncookiesSent"]
}

// maxRSS returns the process's peak resident set size in bytes.
func maxRSS() float64 {
	var ru unix.Rusage
	unix.Getrusage(unix.RUSAGE_SELF, &ru)
	return float64(ru.Maxrss) * 1024
}

// BenchmarkScan scans 1,048,576 targets (the answering /16 × 16 ports) with
// the full engine and reports probes per second, provided every target was
// answered exactly once with the right state, the bytes per pending probe
// and the peak RSS of the process.
func BenchmarkScan(b *testing.B) {
	n := benchNet(b)
	var p *Prober
	if err := n.InProber(func() (err error) {
		p, err = New(Config{Timeout: time.Second, Attempts: 3})
		return err
	}); err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	seen := make([]uint8, 65536*len(benchPorts))
	drops0, cookies0 := targetDrops(b, n)
	b.ResetTimer()
	var elapsed time.Duration
	for range b.N {
		clear(seen)
		bad := 0
		start := time.Now()
		err := p.Scan(context.Background(), prefixPorts(n.Answering4, benchPorts...), func(r Result) {
			a := r.Target.Addr().As4()
			i := (int(a[2])<<8|int(a[3]))*len(benchPorts) + portIndex(r.Target.Port())
			seen[i]++
			want := Closed
			if r.Target.Port() == 80 || r.Target.Port() == 443 {
				want = Open
			}
			if r.State != want {
				bad++
			}
		})
		elapsed += time.Since(start)
		if err != nil {
			b.Fatal(err)
		}
		for i, c := range seen {
			if c != 1 {
				b.Fatalf("target %d has %d results, want 1", i, c)
			}
		}
		if bad != 0 {
			b.Fatalf("%d targets in the wrong state (timeouts: %d)", bad, p.Stats().Timeouts)
		}
	}
	b.StopTimer()
	drops1, cookies1 := targetDrops(b, n)
	b.ReportMetric(float64(drops1-drops0)/float64(b.N), "target-listendrops/op")
	b.ReportMetric(float64(cookies1-cookies0)/float64(b.N), "target-syncookies/op")
	st := p.Stats()
	b.ReportMetric(float64(b.N*len(seen))/elapsed.Seconds(), "probes/s")
	b.ReportMetric(float64(st.Retransmitted)/float64(b.N), "retries/op")
	b.ReportMetric(float64(st.RingDrops)/float64(b.N), "ringdrops/op")
	b.ReportMetric(float64(st.Late)/float64(b.N), "late/op")
	b.ReportMetric(float64(st.SendErrors)/float64(b.N), "senderrs/op")
	b.ReportMetric(p.e.table.bytesPerProbe(), "B/pending")
	b.ReportMetric(maxRSS()/(1<<20), "peakRSS-MiB")
}

// portIndex returns the index of port in benchPorts.
func portIndex(port uint16) int {
	for i, p := range benchPorts {
		if p == port {
			return i
		}
	}
	return -1
}

// BenchmarkBareLoop is the baseline the engine is measured against: a raw
// socket sending the same 1,048,576 SYNs in sendmmsg batches of 256 as fast
// as it can, and one AF_PACKET read (a system call) per reply, with the
// same BPF filter and cookie check but no pending table, window, retries
// or timeouts. It reports probes per second up to the last reply and the
// fraction of targets answered.
func BenchmarkBareLoop(b *testing.B) {
	n := benchNet(b)
	const sportLo, sportHi = 62000, 62999
	var raw *ipSocket
	var pfd int
	err := n.InProber(func() (err error) {
		if raw, err = openIPSocket(unix.AF_INET); err != nil {
			return err
		}
		ifi, err := net.InterfaceByName(n.ProberLink)
		if err != nil {
			return err
		}
		prog, err := synack.Filter(synack.LinkIP, sportLo, sportHi)
		if err != nil {
			return err
		}
		rawProg, err := bpf.Assemble(prog)
		if err != nil {
			return err
		}
		if pfd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0); err != nil {
			return err
		}
		filter := make([]unix.SockFilter, len(rawProg))
		for i, ins := range rawProg {
			filter[i] = unix.SockFilter{Code: ins.Op, Jt: ins.Jt, Jf: ins.Jf, K: ins.K}
		}
		if err := unix.SetsockoptSockFprog(pfd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &unix.SockFprog{Len: uint16(len(filter)), Filter: &filter[0]}); err != nil {
			return err
		}
		unix.SetsockoptInt(pfd, unix.SOL_SOCKET, unix.SO_RCVBUF, 64<<20)
		unix.SetsockoptInt(pfd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 64<<20)
		unix.SetsockoptTimeval(pfd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &unix.Timeval{Usec: 100000})
		return unix.Bind(pfd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifi.Index})
	})
	if err != nil {
		b.Fatal(err)
	}
	defer raw.close()
	defer unix.Close(pfd)
	key, _ := synack.NewCookieKey()
	tmpl, err := synack.NewTemplate(synack.TemplateConfig{Src: n.ProberAddr4, Options: synOptions})
	if err != nil {
		b.Fatal(err)
	}
	total := 65536 * len(benchPorts)
	seen := make([]uint8, total)
	var answered atomic.Int64
	var lastReply atomic.Int64
	b.ResetTimer()
	var elapsed time.Duration
	var frac float64
	for range b.N {
		clear(seen)
		answered.Store(0)
		var stop atomic.Bool
		done := make(chan struct{})
		start := time.Now()
		go func() { // reader: one read per reply
			defer close(done)
			runtime.LockOSThread()
			buf := make([]byte, 2048)
			var r synack.Reply
			idle := 0
			for !stop.Load() || idle < 5 {
				m, err := unix.Read(pfd, buf)
				if err != nil {
					if stop.Load() {
						idle++
					}
					continue
				}
				if synack.Parse(buf[:m], synack.LinkIP, &r) != nil || !key.Validate(&r) {
					continue
				}
				_, tg := r.Probe()
				a := tg.Addr().As4()
				i := (int(a[2])<<8|int(a[3]))*len(benchPorts) + portIndex(tg.Port())
				if i >= 0 && seen[i] == 0 {
					seen[i] = 1
					answered.Add(1)
					lastReply.Store(int64(time.Since(start)))
				}
				if answered.Load() == int64(total) {
					return
				}
			}
		}()
		batch := newSendBatch(256)
		sport := uint16(sportLo)
		for tg := range prefixPorts(n.Answering4, benchPorts...) {
			seq := key.Cookie(n.ProberAddr4, tg.Addr(), sport, tg.Port())
			batch.add(tmpl.FillPacket(batch.next(), tg.Addr(), sport, tg.Port(), seq), tg.Addr())
			if sport++; sport > sportHi {
				sport = sportLo
			}
			if batch.full() {
				if err := batch.send(raw, nil, nil); err != nil {
					b.Fatal(err)
				}
				batch.reset()
			}
		}
		batch.send(raw, nil, nil)
		time.AfterFunc(2*time.Second, func() { stop.Store(true) })
		<-done
		elapsed += time.Duration(lastReply.Load())
		frac += float64(answered.Load()) / float64(total)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N*total)/elapsed.Seconds(), "probes/s")
	b.ReportMetric(100*frac/float64(b.N), "answered%")
}

// BenchmarkProbeParallel runs Probes of an open loopback port from many
// goroutines at once (b.SetParallelism(32) per CPU; one target, so each
// concurrent Probe needs its own source port): probes per second, and the
// allocations per Probe.
func BenchmarkProbeParallel(b *testing.B) {
	testnet.RequirePrivileges(b)
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	target := l.Addr().(*net.TCPAddr).AddrPort()
	p, err := New(Config{SourcePorts: [2]uint16{63400, 63527}})
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	b.ReportAllocs()
	b.SetParallelism(32)
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			r, err := p.Probe(context.Background(), target)
			if err != nil || r.State != Open {
				b.Errorf("Probe: %+v, %v", r, err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "probes/s")
}
