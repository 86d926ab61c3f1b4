package pcapcheck

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
)

// Snaplen is how many bytes of each frame a Capture keeps unless Open is
// given WithSnaplen: enough for the Ethernet, IP and TCP headers and for
// an ICMP error quoting them.
const Snaplen = 160

// EnvKeepDir names the environment variable that sets where the pcap of a
// failed test is copied (default: <os.TempDir()>/rawprobe-pcaps), since the
// test's temporary directory is removed after it.
const EnvKeepDir = "RAWPROBE_PCAP_DIR"

// drainIdle is how long Stop waits for the interface to fall silent before
// ending the capture; drainMax bounds the whole drain.
const (
	drainIdle = 100 * time.Millisecond
	drainMax  = 10 * time.Second
)

// TB is the part of testing.TB that Start and Analyze use; *testing.T and
// *testing.B satisfy it. It keeps package testing out of the programs
// that capture with Open.
type TB interface {
	Cleanup(func())
	Errorf(format string, args ...any)
	Failed() bool
	Fatal(args ...any)
	Helper()
	Logf(format string, args ...any)
	Name() string
	TempDir() string
}

// Capture is a running packet capture started by Open or Start.
type Capture struct {
	t    TB // set by Start; nil after Open
	path string
	src  source
	opts options

	stopping atomic.Bool
	done     chan struct{} // closed when the reader ends
	stopOnce sync.Once
	packets  uint64
	dropped  uint64
	err      error
}

// source is the platform's capture socket.
type source interface {
	// read returns the next frame's bytes (at most len(buf)), its length
	// on the wire and its capture time.
	read(buf []byte) (n, wireLen int, ts time.Time, err error)
	// setReadDeadline bounds the current and following reads.
	setReadDeadline(time.Time) error
	// dropped returns the packets the socket dropped since it opened.
	dropped() (uint64, error)
	close() error
}

// Option changes what Open keeps of the frames it captures.
type Option func(*options)

type options struct {
	snaplen int
	keep    func(frame []byte) bool
}

// maxSnaplen is the largest snaplen Open accepts (tcpdump's limit).
const maxSnaplen = 262144

// WithSnaplen keeps at most n bytes of each frame instead of Snaplen.
func WithSnaplen(n int) Option { return func(o *options) { o.snaplen = n } }

// WithFilter writes only the frames keep returns true for. keep sees the
// frame as captured (at most the snaplen) and must not retain the slice.
func WithFilter(keep func(frame []byte) bool) Option {
	return func(o *options) { o.keep = keep }
}

var captureSeq atomic.Int64

// Open captures every frame on interface ifname into the pcap file path
// (created or truncated) until Stop, for programs as well as tests. The
// capture socket is opened through enter (e.g. a netlab.Net's InProber,
// so that ifname is looked up and captured inside the prober namespace);
// a nil enter opens it in the current namespace. Open returns once the
// socket captures, so packets sent afterwards are in the file. On error
// no file is left at path. Open needs CAP_NET_RAW (and CAP_NET_ADMIN for
// the large receive buffer that keeps bursts from being dropped).
func Open(ifname string, enter func(func() error) error, path string, opts ...Option) (*Capture, error) {
	if ifname == "" {
		return nil, errors.New("pcapcheck: empty interface name")
	}
	o := options{snaplen: Snaplen}
	for _, opt := range opts {
		opt(&o)
	}
	if o.snaplen < 1 || o.snaplen > maxSnaplen {
		return nil, fmt.Errorf("pcapcheck: snaplen %d out of range 1 to %d", o.snaplen, maxSnaplen)
	}
	if enter == nil {
		enter = func(fn func() error) error { return fn() }
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("pcapcheck: %w", err)
	}
	var src source
	err = enter(func() error {
		var err error
		src, err = openSource(ifname)
		return err
	})
	if err != nil {
		f.Close()
		os.Remove(path)
		return nil, fmt.Errorf("pcapcheck: capturing on %s: %w", ifname, err)
	}
	c := &Capture{path: path, src: src, opts: o, done: make(chan struct{})}
	go c.run(f)
	return c, nil
}

// Start is Open for tests: it captures every frame on interface ifname
// into <t.TempDir()>/<test name>.pcap until Stop or Analyze, or the end of
// the test, when it stops the capture itself. When the test fails, the
// pcap is copied out of the temporary directory (see EnvKeepDir) and its
// path logged. Start fails t if the capture cannot start.
func Start(t TB, ifname string, enter func(func() error) error) *Capture {
	t.Helper()
	name := strings.NewReplacer("/", "_", " ", "_").Replace(t.Name())
	path := filepath.Join(t.TempDir(), fmt.Sprintf("%s-%s-%d.pcap", name, ifname, captureSeq.Add(1)))
	c, err := Open(ifname, enter, path)
	if err != nil {
		t.Fatal(err)
	}
	c.t = t
	t.Cleanup(func() {
		if _, err := c.Stop(); err != nil {
			t.Errorf("pcapcheck: %v", err)
		}
		if t.Failed() {
			c.keep()
		}
	})
	return c
}

// run reads frames and writes them to f until Stop.
func (c *Capture) run(f *os.File) {
	defer close(c.done)
	bw := bufio.NewWriterSize(f, 1<<20)
	w := pcapgo.NewWriterNanos(bw)
	err := w.WriteFileHeader(uint32(c.opts.snaplen), layers.LinkTypeEthernet)
	buf := make([]byte, c.opts.snaplen)
	var drainStart time.Time
	for err == nil {
		n, wireLen, ts, rerr := c.src.read(buf)
		if rerr != nil {
			if c.stopping.Load() && isTimeout(rerr) {
				break // the interface fell silent
			}
			err = rerr
			break
		}
		if c.stopping.Load() {
			if drainStart.IsZero() {
				drainStart = time.Now()
			}
			d := time.Now().Add(drainIdle)
			if time.Since(drainStart) > drainMax {
				d = time.Now() // traffic never stops: end the drain
			}
			c.src.setReadDeadline(d)
		}
		if c.opts.keep != nil && !c.opts.keep(buf[:n]) {
			continue
		}
		c.packets++
		err = w.WritePacket(gopacket.CaptureInfo{Timestamp: ts, CaptureLength: n, Length: wireLen}, buf[:n])
	}
	if ferr := bw.Flush(); err == nil {
		err = ferr
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	c.err = err
}

// Stop ends the capture once the interface has been silent for 100 ms
// (so replies still in flight are captured), closes the file and returns
// its path. Stop may be called more than once.
func (c *Capture) Stop() (path string, err error) {
	c.stopOnce.Do(func() {
		c.stopping.Store(true)
		c.src.setReadDeadline(time.Now().Add(drainIdle))
		<-c.done
		d, derr := c.src.dropped()
		c.dropped = d
		if cerr := c.src.close(); c.err == nil {
			c.err = cerr
		}
		if c.err == nil && derr != nil {
			c.err = derr
		}
		if c.err != nil {
			c.err = fmt.Errorf("capture %s: %w", c.path, c.err)
		}
	})
	return c.path, c.err
}

// Report stops the capture and analyses the file, with the packets the
// capture socket dropped in Report.Dropped (so Report.Err fails a capture
// that missed frames). The handshake rules are left to the caller
// (Report.Err); the error is for I/O and for a file that does not hold
// the frames the capture wrote.
func (c *Capture) Report() (*Report, error) {
	path, err := c.Stop()
	if err != nil {
		return nil, fmt.Errorf("pcapcheck: %w", err)
	}
	r, err := AnalyzeFile(path)
	if err != nil {
		return nil, err
	}
	r.Dropped = c.dropped
	if r.Packets != c.packets {
		return nil, fmt.Errorf("pcapcheck: %s holds %d packets, the capture wrote %d", path, r.Packets, c.packets)
	}
	return r, nil
}

// Analyze is Report for a capture started by Start: it fails the test on
// I/O errors; the handshake rules are left to the caller (Report.Err).
func (c *Capture) Analyze() *Report {
	if c.t == nil {
		panic("pcapcheck: Analyze on a capture not started by Start; use Report")
	}
	c.t.Helper()
	r, err := c.Report()
	if err != nil {
		c.t.Fatal(err)
	}
	return r
}

// keep copies the pcap of a failed test out of its temporary directory
// and logs where.
func (c *Capture) keep() {
	dir := os.Getenv(EnvKeepDir)
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "rawprobe-pcaps")
	}
	dst := filepath.Join(dir, time.Now().Format("20060102-150405.000-")+filepath.Base(c.path))
	err := os.MkdirAll(dir, 0o755)
	if err == nil {
		err = copyFile(dst, c.path)
	}
	if err != nil {
		c.t.Logf("pcapcheck: capture %s not kept: %v", c.path, err)
		return
	}
	c.t.Logf("pcapcheck: capture of the failed test kept at %s", dst)
}

func copyFile(dst, src string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
