// Package servicesfile parses the services(5) format of /etc/services: one
// service a line, "name port/protocol [alias ...]", with "#" starting a
// comment. It also reads the merged form "name port/tcp/udp/sctp" that
// Wireshark's copy of the IANA registry uses for a name shared by several
// protocols.
package servicesfile

import (
	"bufio"
	"io"
	"slices"
	"strconv"
	"strings"
)

// Entry is one port/protocol pair a services file names.
type Entry struct {
	// Name is the service's official name, the first field of its line.
	Name string
	// Port is the port number.
	Port uint16
	// Proto is the protocol as written, e.g. "tcp".
	Proto string
}

// Parse reads a services file from r and calls fn for each port and
// protocol of each well-formed line, in file order. A malformed line (no
// port/protocol field, a port that is not a number from 0 to 65535, an
// empty protocol) is skipped; it returns an error only when r fails.
func Parse(r io.Reader, fn func(Entry)) error {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		fields := strings.Fields(line)
		if len(fields) < 2 {
			continue
		}
		portStr, protos, ok := strings.Cut(fields[1], "/")
		if !ok {
			continue
		}
		port, err := strconv.ParseUint(portStr, 10, 16)
		if err != nil {
			continue
		}
		list := strings.Split(protos, "/")
		if slices.Contains(list, "") {
			continue
		}
		for _, proto := range list {
			fn(Entry{Name: fields[0], Port: uint16(port), Proto: proto})
		}
	}
	return sc.Err()
}
