package targets

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// portRange is an inclusive range of ports.
type portRange struct{ first, last uint16 }

// Ports is an ordered list of distinct TCP ports, stored as ranges.
// The zero value is the empty list.
type Ports struct {
	ranges []portRange
	n      int
}

// ParsePorts parses a port list such as "80,443,8000-8100". Ports are
// 1-65535; duplicates and overlaps are merged and the result is sorted.
func ParsePorts(s string) (Ports, error) {
	var rs []portRange
	for _, tok := range strings.Split(s, ",") {
		tok = strings.TrimSpace(tok)
		if tok == "" {
			return Ports{}, fmt.Errorf("invalid port list %q: empty element", s)
		}
		lo, hi, isRange := strings.Cut(tok, "-")
		first, err := parsePort(lo)
		if err != nil {
			return Ports{}, fmt.Errorf("invalid port list %q: %w", s, err)
		}
		last := first
		if isRange {
			if last, err = parsePort(hi); err != nil {
				return Ports{}, fmt.Errorf("invalid port list %q: %w", s, err)
			}
			if last < first {
				return Ports{}, fmt.Errorf("invalid port list %q: range %q runs backwards", s, tok)
			}
		}
		rs = append(rs, portRange{first, last})
	}
	return mergePorts(rs), nil
}

// SinglePort returns the list holding port alone.
func SinglePort(port uint16) Ports {
	return Ports{ranges: []portRange{{port, port}}, n: 1}
}

func mergePorts(rs []portRange) Ports {
	slices.SortFunc(rs, func(a, b portRange) int { return int(a.first) - int(b.first) })
	var out []portRange
	for _, r := range rs {
		if k := len(out) - 1; k >= 0 && int(r.first) <= int(out[k].last)+1 {
			out[k].last = max(out[k].last, r.last)
			continue
		}
		out = append(out, r)
	}
	p := Ports{ranges: out}
	for _, r := range out {
		p.n += int(r.last-r.first) + 1
	}
	return p
}

// parsePort parses a decimal TCP port, 1-65535.
func parsePort(s string) (uint16, error) {
	if s == "" {
		return 0, fmt.Errorf("missing port")
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("port %q is not a number", s)
		}
	}
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil || n < 1 || n > 65535 {
		return 0, fmt.Errorf("port %s is out of range 1-65535", s)
	}
	return uint16(n), nil
}

// Len returns the number of ports in the list.
func (p Ports) Len() int { return p.n }

// At returns the i-th port in ascending order; 0 <= i < Len.
func (p Ports) At(i int) uint16 {
	for _, r := range p.ranges {
		size := int(r.last-r.first) + 1
		if i < size {
			return r.first + uint16(i)
		}
		i -= size
	}
	panic("targets: port index out of range")
}

// String formats the list as ParsePorts accepts it, e.g. "22,80-90".
func (p Ports) String() string {
	var b strings.Builder
	for i, r := range p.ranges {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Itoa(int(r.first)))
		if r.last != r.first {
			b.WriteByte('-')
			b.WriteString(strconv.Itoa(int(r.last)))
		}
	}
	return b.String()
}
