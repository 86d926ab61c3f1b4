package output

import (
	"bufio"
	"encoding/csv"
	"io"
	"strconv"
	"time"

	"github.com/rawprobe/rawprobe/rawcheck"
)

// Record is one probed target as written out.
type Record struct {
	// Name is the target as the user named it: "host:port" for a target
	// given by host name, otherwise the address and port.
	Name string
	// Result is what the engine found.
	Result rawcheck.Result
	// Time is when the result was known.
	Time time.Time
}

// Writer writes records in one format. Writers are not safe for concurrent
// use.
type Writer interface {
	// Write writes one record.
	Write(Record) error
	// Flush writes any buffered data to the underlying writer.
	Flush() error
}

// Formats lists the names NewWriter accepts.
var Formats = []string{"text", "jsonl", "csv"}

// NewWriter returns a Writer for format "text", "jsonl" or "csv".
//
// text:  one line per target: name, state, RTT, attempts and TTL (or the
// ICMP type and code of an unreachable), aligned in columns, and the
// port's service name when it has one.
// jsonl: one JSON object per line with the fields target, ip, port,
// service, state, rtt_us, attempts, ttl, icmp_type, icmp_code and time
// (RFC 3339, UTC).
// csv:   a header line, then the same fields as jsonl.
//
// The service is the port's TCP service name from package services
// (/etc/services, else IANA's registry), "" when neither names it.
//
// The state is the name rawcheck.State.String gives: open, closed,
// timeout, unreachable (an ICMP error answered the SYN) or noroute (the
// prober has no route to the target, or its kernel refused the first SYN,
// so nothing was sent: no RTT, no attempt, no TTL, no ICMP type or code).
func NewWriter(format string, w io.Writer) (Writer, error) {
	f, err := ParseFormat(format)
	if err != nil {
		return nil, err
	}
	return f.NewWriter(w), nil
}

type textWriter struct {
	w   *bufio.Writer
	buf []byte
}

func (t *textWriter) Write(r Record) error {
	res := r.Result
	b := append(t.buf[:0], r.Name...)
	b = pad(b, len(r.Name), 24)
	st := res.State.String()
	b = append(b, st...)
	b = pad(b, len(st), 12)
	switch res.State {
	case rawcheck.Timeout, rawcheck.NoRoute: // no reply to time
		b = append(b, "rtt=-"...)
	default:
		b = append(b, "rtt="...)
		b = appendDuration(b, res.RTT)
	}
	b = append(b, " attempts="...)
	b = strconv.AppendInt(b, int64(res.Attempts), 10)
	if res.State == rawcheck.Unreachable && res.ICMPType != 0 { // 0: the connect engine learns only an errno
		b = append(b, " icmp="...)
		b = strconv.AppendUint(b, uint64(res.ICMPType), 10)
		b = append(b, '/')
		b = strconv.AppendUint(b, uint64(res.ICMPCode), 10)
	}
	if res.TTL != 0 {
		b = append(b, " ttl="...)
		b = strconv.AppendUint(b, uint64(res.TTL), 10)
	}
	if svc := serviceName(res.Target.Port()); svc != "" {
		b = append(b, " service="...)
		b = appendPrintable(b, svc)
	}
	b = append(b, '\n')
	t.buf = b
	_, err := t.w.Write(b)
	return err
}

func (t *textWriter) Flush() error { return t.w.Flush() }

// pad appends spaces so a field of length n fills width (and at least one).
func pad(b []byte, n, width int) []byte {
	b = append(b, ' ')
	for ; n+1 < width; n++ {
		b = append(b, ' ')
	}
	return b
}

// appendDuration appends d in milliseconds with microsecond precision.
func appendDuration(b []byte, d time.Duration) []byte {
	b = strconv.AppendFloat(b, float64(d.Microseconds())/1000, 'f', 3, 64)
	return append(b, "ms"...)
}

type jsonlWriter struct {
	w   *bufio.Writer
	buf []byte
}

func (j *jsonlWriter) Write(r Record) error {
	res := r.Result
	b := append(j.buf[:0], `{"target":`...)
	b = appendJSONString(b, r.Name)
	b = append(b, `,"ip":"`...)
	b = res.Target.Addr().AppendTo(b)
	b = append(b, `","port":`...)
	b = strconv.AppendUint(b, uint64(res.Target.Port()), 10)
	b = append(b, `,"service":`...)
	b = appendJSONString(b, serviceName(res.Target.Port()))
	b = append(b, `,"state":"`...)
	b = append(b, res.State.String()...)
	b = append(b, `","rtt_us":`...)
	b = strconv.AppendInt(b, res.RTT.Microseconds(), 10)
	b = append(b, `,"attempts":`...)
	b = strconv.AppendInt(b, int64(res.Attempts), 10)
	b = append(b, `,"ttl":`...)
	b = strconv.AppendUint(b, uint64(res.TTL), 10)
	b = append(b, `,"icmp_type":`...)
	b = strconv.AppendUint(b, uint64(res.ICMPType), 10)
	b = append(b, `,"icmp_code":`...)
	b = strconv.AppendUint(b, uint64(res.ICMPCode), 10)
	b = append(b, `,"time":"`...)
	b = r.Time.UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, "\"}\n"...)
	j.buf = b
	_, err := j.w.Write(b)
	return err
}

func (j *jsonlWriter) Flush() error { return j.w.Flush() }

// appendJSONString appends s as a JSON string.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c < 0x20:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&15])
		default:
			b = append(b, c)
		}
	}
	return append(b, '"')
}

// CSVHeader is the first line a csv Writer writes.
var CSVHeader = []string{"target", "ip", "port", "service", "state", "rtt_us", "attempts", "ttl", "icmp_type", "icmp_code", "time"}

type csvWriter struct {
	w      *csv.Writer
	header bool
}

func (c *csvWriter) Write(r Record) error {
	if !c.header {
		c.header = true
		if err := c.w.Write(CSVHeader); err != nil {
			return err
		}
	}
	res := r.Result
	return c.w.Write([]string{
		r.Name,
		res.Target.Addr().String(),
		strconv.Itoa(int(res.Target.Port())),
		serviceName(res.Target.Port()),
		res.State.String(),
		strconv.FormatInt(res.RTT.Microseconds(), 10),
		strconv.Itoa(res.Attempts),
		strconv.Itoa(int(res.TTL)),
		strconv.Itoa(int(res.ICMPType)),
		strconv.Itoa(int(res.ICMPCode)),
		r.Time.UTC().Format(time.RFC3339Nano),
	})
}

func (c *csvWriter) Flush() error {
	if !c.header { // a scan with no record still gets its header
		c.header = true
		c.w.Write(CSVHeader)
	}
	c.w.Flush()
	return c.w.Error()
}

// OpenOnly returns a Writer that passes only open targets on to w.
func OpenOnly(w Writer) Writer { return openOnly{w} }

type openOnly struct{ Writer }

func (o openOnly) Write(r Record) error {
	if r.Result.State != rawcheck.Open {
		return nil
	}
	return o.Writer.Write(r)
}
