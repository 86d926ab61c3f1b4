package services

import (
	_ "embed"
	"strings"
)

//go:embed iana_tcp.txt
var ianaTCPFile string

// ianaTCP is the embedded IANA table without its comment header.
var ianaTCP = portTable(skipComments(ianaTCPFile))

// portTable is text of lines "port<TAB>name\n" in ascending port order.
// It is searched in place, so a lookup neither parses the whole table nor
// allocates.
type portTable string

// lookup returns the name on port's line, or "". It bisects the text by
// byte offset: lo and hi are line starts, every line before lo has a port
// below port and every line from hi on a port above it.
func (t portTable) lookup(port uint16) string {
	s := string(t)
	lo, hi := 0, len(s)
	for lo < hi {
		mid := lo + (hi-lo)/2
		start := lo + strings.LastIndexByte(s[lo:mid], '\n') + 1
		end := len(s)
		if i := strings.IndexByte(s[start:], '\n'); i >= 0 {
			end = start + i + 1
		}
		p, name := parseLine(s[start:end])
		switch {
		case p == int(port):
			return name
		case p < int(port):
			lo = end
		default:
			hi = start
		}
	}
	return ""
}

// parseLine splits "port<TAB>name\n"; a line that does not parse has
// port -1.
func parseLine(line string) (port int, name string) {
	line = strings.TrimSuffix(line, "\n")
	num, name, ok := strings.Cut(line, "\t")
	if !ok || num == "" {
		return -1, ""
	}
	for i := 0; i < len(num); i++ {
		c := num[i]
		if c < '0' || c > '9' {
			return -1, ""
		}
		port = port*10 + int(c-'0')
	}
	return port, name
}

// skipComments drops the leading lines that start with '#'.
func skipComments(s string) string {
	for strings.HasPrefix(s, "#") {
		i := strings.IndexByte(s, '\n')
		if i < 0 {
			return ""
		}
		s = s[i+1:]
	}
	return s
}
