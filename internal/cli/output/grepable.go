package output

import (
	"io"
	"strconv"
)

// GrepableWriter writes results as nmap's grepable output (-oG):
//
//	# Nmap VERSION scan initiated Tue Dec  1 22:11:56 2026 as: ARGS
//	Host: 198.18.0.5 (db.example)	Status: Up
//	Host: 198.18.0.5 (db.example)	Ports: 22/closed/tcp//ssh///, 5432/open/tcp//postgresql///
//	# Nmap done at Tue Dec  1 22:11:57 2026 -- 1 IP address (1 host up) scanned in 1.02 seconds
//
// Each port is port/state/protocol/owner/service/rpc info/version/, with
// the states of NmapPortState and the service name from package services;
// owner, RPC and version information are empty, as nmap leaves them
// without -sV. The parentheses hold the host name the user gave, empty
// for a target given by address. Every host is Up, as with nmap -Pn.
// Hosts are grouped in a bounded buffer as XMLWriter's are, so a host may
// have more than one pair of lines.
//
// A GrepableWriter is not safe for concurrent use.
type GrepableWriter struct {
	nmapFile
}

var _ Writer = (*GrepableWriter)(nil)

// NewGrepableWriter returns a GrepableWriter to w and writes its header
// line.
func NewGrepableWriter(w io.Writer, h NmapHeader) *GrepableWriter {
	gw := &GrepableWriter{}
	gw.init(w, h, "GrepableWriter", gw.writeHost)
	b := append(gw.buf[:0], "# Nmap "...)
	b = appendPrintable(b, h.nmapVersion())
	b = append(b, " scan initiated "...)
	b = appendCtime(b, h.Start)
	b = append(b, " as: "...)
	b = appendPrintable(b, h.Args)
	b = append(b, '\n')
	gw.put(b)
	return gw
}

// Write adds one result; its host is written when complete or when the
// buffer is full.
func (gw *GrepableWriter) Write(r Record) error { return gw.write(r) }

// Flush writes the hosts already formatted to the underlying writer. Hosts
// still gathering results stay in the buffer: Close writes them.
func (gw *GrepableWriter) Flush() error { return gw.w.Flush() }

// Close writes the hosts still buffered and the "# Nmap done" line, and
// flushes. It does not close the underlying writer. A scan that did not
// finish (s.Err) gets nmap's comment line for an error before it.
func (gw *GrepableWriter) Close(s NmapStats) error {
	return gw.close(s, func(b []byte, hosts uint64) []byte {
		if s.Err != nil {
			b = append(b, "# "...)
			b = appendPrintable(b, s.Err.Error())
			b = append(b, '\n')
		}
		b = append(b, "# Nmap done at "...)
		b = appendCtime(b, s.End)
		b = append(b, " -- "...)
		b = appendDoneSummary(b, hosts, gw.h.Start, s.End)
		return append(b, '\n')
	})
}

// writeHost formats one host's Status and Ports lines.
func (gw *GrepableWriter) writeHost(grp *hostGroup) error {
	gw.hosts++
	b := appendGrepableHost(gw.buf[:0], grp.key)
	b = append(b, "\tStatus: Up\n"...)
	b = appendGrepableHost(b, grp.key)
	b = append(b, "\tPorts: "...)
	for i, r := range grp.records {
		if i > 0 {
			b = append(b, ", "...)
		}
		port := r.Result.Target.Port()
		state, _ := NmapPortState(r.Result)
		b = strconv.AppendUint(b, uint64(port), 10)
		b = append(b, '/')
		b = append(b, state...)
		b = append(b, "/tcp//"...)
		b = appendPrintable(b, serviceName(port))
		b = append(b, "///"...)
	}
	b = append(b, '\n')
	return gw.put(b)
}

// appendGrepableHost appends "Host: ADDR (NAME)".
func appendGrepableHost(b []byte, k hostKey) []byte {
	b = append(b, "Host: "...)
	b = k.addr.AppendTo(b)
	b = append(b, " ("...)
	b = appendPrintable(b, k.name)
	return append(b, ')')
}
