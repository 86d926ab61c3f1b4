package output

import (
	"bufio"
	"errors"
	"io"
)

// nmapFile is what XMLWriter and GrepableWriter share: the buffered
// underlying writer, the header, the host grouper that calls the format's
// writeHost, the reused formatting buffer, the count of hosts written and
// the closed state that refuses a Write after Close and a second Close.
type nmapFile struct {
	w      *bufio.Writer
	h      NmapHeader
	g      hostGrouper
	buf    []byte
	hosts  uint64
	closed bool
	name   string // the writer's type name, for its errors
}

// init sets f up to write to w; writeHost formats one host.
func (f *nmapFile) init(w io.Writer, h NmapHeader, name string, writeHost func(*hostGroup) error) {
	f.w = bufio.NewWriter(w)
	f.h = h
	f.name = name
	f.g = newHostGrouper(h, writeHost)
}

// put keeps b as the formatting buffer and writes it. An error of the
// buffered writer stays in it and is returned by Flush or Close.
func (f *nmapFile) put(b []byte) error {
	f.buf = b
	_, err := f.w.Write(b)
	return err
}

// write adds one result; its host is written when complete or when the
// buffer is full.
func (f *nmapFile) write(r Record) error {
	if f.closed {
		return errors.New("output: write to a closed " + f.name)
	}
	return f.g.add(r)
}

// close writes the hosts still buffered, then the end of the file that
// appendEnd formats given the number of hosts (s.Hosts, or the hosts
// written when s.Hosts is 0), and flushes. It does not close the
// underlying writer.
func (f *nmapFile) close(s NmapStats, appendEnd func(b []byte, hosts uint64) []byte) error {
	if f.closed {
		return errors.New("output: " + f.name + " closed twice")
	}
	err := f.g.flush()
	f.closed = true
	hosts := s.Hosts
	if hosts == 0 {
		hosts = f.hosts
	}
	f.put(appendEnd(f.buf[:0], hosts))
	if ferr := f.w.Flush(); err == nil {
		err = ferr
	}
	return err
}
