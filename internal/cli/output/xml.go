package output

import (
	"io"
	"strconv"
	"unicode/utf8"
)

// XMLWriter writes results as nmap's XML output (-oX), valid under nmap's
// DTD (nmap.dtd) and readable by nmap's tools (ndiff, zenmap) and parsers:
// an <nmaprun> with a SYN-scan <scaninfo>, one <host> per host with its
// ports (state, reason, reason_ttl and the service name from package
// services), and <runstats>. Every host is "up" with reason user-set, as
// with nmap -Pn: rawprobe does no host discovery.
//
// Results are grouped by host in a bounded buffer (see NmapHeader), so a
// scan of any size is written without holding its results. A host whose
// results were not all in the buffer together appears in more than one
// <host> element. nmap does the same for a host given twice, and ndiff
// reads every element as a host of its own, pairing the elements of one
// address and name in file order: two scans are compared port by port
// when neither split a host, i.e. when every host completes within the
// buffer (NumPorts set, or fewer results than MaxBuffered).
//
// An XMLWriter is not safe for concurrent use.
type XMLWriter struct {
	nmapFile
}

var _ Writer = (*XMLWriter)(nil)

// NewXMLWriter returns an XMLWriter to w and writes the document's start.
func NewXMLWriter(w io.Writer, h NmapHeader) *XMLWriter {
	x := &XMLWriter{}
	x.init(w, h, "XMLWriter", x.writeHost)
	b := append(x.buf[:0], "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!DOCTYPE nmaprun>\n<!-- Nmap "...)
	b = appendXMLText(b, h.nmapVersion())
	b = append(b, " scan initiated "...)
	b = appendCtime(b, h.Start)
	b = append(b, " as: "...)
	b = appendXMLText(b, h.Args)
	b = append(b, " -->\n<nmaprun scanner=\"nmap\" args=\""...)
	b = appendXMLText(b, h.Args)
	b = append(b, "\" start=\""...)
	b = strconv.AppendInt(b, h.Start.Unix(), 10)
	b = append(b, "\" startstr=\""...)
	b = appendCtime(b, h.Start)
	b = append(b, "\" version=\""...)
	b = appendXMLText(b, h.nmapVersion())
	b = append(b, "\" xmloutputversion=\"1.05\">\n<scaninfo type=\"syn\" protocol=\"tcp\" numservices=\""...)
	b = strconv.AppendInt(b, int64(h.NumPorts), 10)
	b = append(b, "\" services=\""...)
	b = appendXMLText(b, h.Ports)
	b = append(b, "\"/>\n<verbose level=\"0\"/>\n<debugging level=\"0\"/>\n"...)
	x.put(b)
	return x
}

// Write adds one result; its host is written when complete or when the
// buffer is full.
func (x *XMLWriter) Write(r Record) error { return x.write(r) }

// Flush writes the hosts already formatted to the underlying writer. Hosts
// still gathering results stay in the buffer: Close writes them.
func (x *XMLWriter) Flush() error { return x.w.Flush() }

// Close writes the hosts still buffered and the closing <runstats>, and
// flushes. It does not close the underlying writer.
func (x *XMLWriter) Close(s NmapStats) error {
	return x.close(s, func(b []byte, hosts uint64) []byte {
		b = append(b, "<runstats><finished time=\""...)
		b = strconv.AppendInt(b, s.End.Unix(), 10)
		b = append(b, "\" timestr=\""...)
		b = appendCtime(b, s.End)
		b = append(b, "\" summary=\"Nmap done at "...)
		b = appendCtime(b, s.End)
		b = append(b, "; "...)
		b = appendDoneSummary(b, hosts, x.h.Start, s.End)
		b = append(b, "\" elapsed=\""...)
		b = appendElapsed(b, x.h.Start, s.End)
		if s.Err != nil {
			b = append(b, "\" exit=\"error\" errormsg=\""...)
			b = appendXMLText(b, s.Err.Error())
			b = append(b, "\"/>"...)
		} else {
			b = append(b, "\" exit=\"success\"/>"...)
		}
		b = append(b, "<hosts up=\""...)
		b = strconv.AppendUint(b, hosts, 10)
		b = append(b, "\" down=\"0\" total=\""...)
		b = strconv.AppendUint(b, hosts, 10)
		return append(b, "\"/>\n</runstats>\n</nmaprun>\n"...)
	})
}

// writeHost formats one <host> element into the buffered writer.
func (x *XMLWriter) writeHost(grp *hostGroup) error {
	x.hosts++
	first, last := grp.timeSpan()
	b := append(x.buf[:0], "<host starttime=\""...)
	b = strconv.AppendInt(b, first.Unix(), 10)
	b = append(b, "\" endtime=\""...)
	b = strconv.AppendInt(b, last.Unix(), 10)
	b = append(b, "\"><status state=\"up\" reason=\"user-set\" reason_ttl=\"0\"/>\n<address addr=\""...)
	b = grp.key.addr.AppendTo(b)
	if grp.key.addr.Is4() {
		b = append(b, "\" addrtype=\"ipv4\"/>\n<hostnames>\n"...)
	} else {
		b = append(b, "\" addrtype=\"ipv6\"/>\n<hostnames>\n"...)
	}
	if grp.key.name != "" {
		b = append(b, "<hostname name=\""...)
		b = appendXMLText(b, grp.key.name)
		b = append(b, "\" type=\"user\"/>\n"...)
	}
	b = append(b, "</hostnames>\n<ports>"...)
	for _, r := range grp.records {
		port := r.Result.Target.Port()
		state, reason := NmapPortState(r.Result)
		b = append(b, "<port protocol=\"tcp\" portid=\""...)
		b = strconv.AppendUint(b, uint64(port), 10)
		b = append(b, "\"><state state=\""...)
		b = append(b, state...)
		b = append(b, "\" reason=\""...)
		b = append(b, reason...)
		b = append(b, "\" reason_ttl=\""...)
		b = strconv.AppendUint(b, uint64(r.Result.TTL), 10)
		b = append(b, "\"/>"...)
		if name := serviceName(port); name != "" {
			b = append(b, "<service name=\""...)
			b = appendXMLText(b, name)
			b = append(b, "\" method=\"table\" conf=\"3\"/>"...)
		}
		b = append(b, "</port>\n"...)
	}
	b = append(b, "</ports>\n</host>\n"...)
	return x.put(b)
}

// appendXMLText appends s escaped for an XML attribute value or comment,
// as nmap escapes: the five markup characters as entities, a '-' that
// follows a '-' as "&#45;" (a comment may not hold "--"), tab, newline and
// carriage return as character references, and other characters XML 1.0
// forbids, or invalid UTF-8, as U+FFFD.
func appendXMLText(b []byte, s string) []byte {
	prev := rune(0)
	for _, c := range s {
		switch {
		case c == '&':
			b = append(b, "&amp;"...)
		case c == '<':
			b = append(b, "&lt;"...)
		case c == '>':
			b = append(b, "&gt;"...)
		case c == '"':
			b = append(b, "&quot;"...)
		case c == '\'':
			b = append(b, "&apos;"...)
		case c == '-' && prev == '-':
			b = append(b, "&#45;"...)
		case c == '\t':
			b = append(b, "&#9;"...)
		case c == '\n':
			b = append(b, "&#10;"...)
		case c == '\r':
			b = append(b, "&#13;"...)
		case c < 0x20, c == 0xFFFE, c == 0xFFFF:
			b = utf8.AppendRune(b, utf8.RuneError)
		default: // invalid UTF-8 decodes as, and so is written as, U+FFFD
			b = utf8.AppendRune(b, c)
		}
		prev = c
	}
	return b
}
