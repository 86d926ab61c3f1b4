package rawcheck

import (
	"errors"
	"io/fs"
	"strings"
	"testing"
)

// fixedRange returns an ephemeral-range source that reports lo-hi.
func fixedRange(lo, hi uint16) func() (uint16, uint16, error) {
	return func() (uint16, uint16, error) { return lo, hi, nil }
}

// TestSourcePortsPolicy: with an injected ephemeral port range, Validate
// refuses a SourcePorts range (given or default) that reaches below 1024
// or overlaps the ephemeral range, naming the range and the conflict;
// accepts the ranges just outside (the control); and accepts everything
// with ForceSourcePorts, except what is malformed.
func TestSourcePortsPolicy(t *testing.T) {
	linuxDefault := fixedRange(32768, 60999)
	for _, tc := range []struct {
		ports     [2]uint16
		ephemeral func() (uint16, uint16, error)
		want      []string // in the error; none: accepted
	}{
		{[2]uint16{1, 65535}, linuxDefault, []string{"SourcePorts 1-65535", "from 1024 up"}},
		{[2]uint16{22, 22}, linuxDefault, []string{"SourcePorts 22-22", "from 1024 up"}},
		{[2]uint16{1023, 2000}, linuxDefault, []string{"SourcePorts 1023-2000", "from 1024 up"}},
		{[2]uint16{40000, 40010}, linuxDefault, []string{"SourcePorts 40000-40010", "ephemeral port range 32768-60999", "ip_local_port_range"}},
		{[2]uint16{30000, 32768}, linuxDefault, []string{"SourcePorts 30000-32768", "32768-60999"}},
		{[2]uint16{60999, 61999}, linuxDefault, []string{"SourcePorts 60999-61999", "32768-60999"}},
		{[2]uint16{1024, 65535}, linuxDefault, []string{"SourcePorts 1024-65535", "32768-60999"}},
		{[2]uint16{}, fixedRange(1024, 65535), []string{"SourcePorts 61000-61999", "1024-65535"}}, // the default is checked too
		{[2]uint16{61000, 61999}, func() (uint16, uint16, error) { return 0, 0, fs.ErrPermission }, []string{"SourcePorts 61000-61999", "cannot be read", "permission denied"}},
		// Controls: just outside, the default, and nothing to check against.
		{[2]uint16{1024, 32767}, linuxDefault, nil},
		{[2]uint16{61000, 65535}, linuxDefault, nil},
		{[2]uint16{}, linuxDefault, nil},
		{[2]uint16{22, 22}, func() (uint16, uint16, error) { return 0, 0, errors.ErrUnsupported }, []string{"from 1024 up"}},
		{[2]uint16{40000, 40010}, func() (uint16, uint16, error) { return 0, 0, errors.ErrUnsupported }, nil},
	} {
		c := Config{SourcePorts: tc.ports}
		err := c.validate(tc.ephemeral)
		var ce *ConfigError
		switch {
		case tc.want == nil && err != nil:
			t.Errorf("%v: %v, want accepted", tc.ports, err)
		case tc.want != nil && (!errors.As(err, &ce) || ce.Field != "SourcePorts"):
			t.Errorf("%v: %v, want a *ConfigError for SourcePorts", tc.ports, err)
		case tc.want != nil:
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("%v: %q does not say %q", tc.ports, err, w)
				}
			}
			if !strings.Contains(err.Error(), "ForceSourcePorts") {
				t.Errorf("%v: %q does not name ForceSourcePorts", tc.ports, err)
			}
		}
		c.ForceSourcePorts = true
		if err := c.validate(tc.ephemeral); err != nil {
			t.Errorf("%v with ForceSourcePorts: %v, want accepted", tc.ports, err)
		}
	}
	// ForceSourcePorts does not make a malformed range usable.
	if err := (Config{SourcePorts: [2]uint16{9, 1}, ForceSourcePorts: true}).validate(linuxDefault); err == nil {
		t.Error("9-1 with ForceSourcePorts accepted")
	}
}

// TestNewRefusesSourcePorts: New refuses a range below 1024 with the
// *ConfigError before it opens anything.
func TestNewRefusesSourcePorts(t *testing.T) {
	var ce *ConfigError
	if p, err := New(Config{SourcePorts: [2]uint16{22, 22}}); !errors.As(err, &ce) || ce.Field != "SourcePorts" || p != nil {
		t.Errorf("New(22-22) = %v, %v; want a *ConfigError for SourcePorts", p, err)
	}
}

func TestParsePortRange(t *testing.T) {
	if lo, hi, err := parsePortRange("32768\t60999\n"); lo != 32768 || hi != 60999 || err != nil {
		t.Errorf("parsePortRange = %d, %d, %v", lo, hi, err)
	}
	for _, bad := range []string{"", "32768", "1 2 3", "0 100", "200 100", "1 65536", "a b"} {
		if _, _, err := parsePortRange(bad); err == nil {
			t.Errorf("parsePortRange(%q) accepted", bad)
		}
	}
}
