package targets

import (
	"fmt"
	"net/netip"
)

// Endpoint is one "host:port" target before name resolution.
type Endpoint struct {
	// Host is the host name, or "" when Addr is set.
	Host string
	// Addr is the literal address, valid when no name was given.
	Addr netip.Addr
	// Port is the TCP port, 1-65535.
	Port uint16
}

// ParseEndpoint parses a single target "host:port", "ip:port" or
// "[v6]:port" without resolving it. Prefixes and ranges are refused.
func ParseEndpoint(token string) (Endpoint, error) {
	fail := func(format string, args ...any) (Endpoint, error) {
		return Endpoint{}, &Error{Token: token, Reason: fmt.Sprintf(format, args...)}
	}
	hosts, portText, hasPort, err := splitHostPort(token)
	if err != nil {
		return fail("%v", err)
	}
	if !hasPort {
		return fail("no port: want host:port, ip:port or [v6]:port")
	}
	port, err := parsePort(portText)
	if err != nil {
		return fail("%v", err)
	}
	r, name, err := parseHosts(hosts)
	if err != nil {
		return fail("%v", err)
	}
	if name != "" {
		return Endpoint{Host: name, Port: port}, nil
	}
	if r.first != r.last {
		return fail("want a single address, not a prefix or range")
	}
	a := r.first.addr(r.is4)
	if why := notProbeable(a); why != "" {
		return fail("%s", why)
	}
	return Endpoint{Addr: a, Port: port}, nil
}
