package rawcheck

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestConfigCheck(t *testing.T) {
	s, err := Config{}.check()
	if err != nil {
		t.Fatal(err)
	}
	if s.portLow != DefaultSourcePortLow || s.portHigh != DefaultSourcePortHigh || s.timeout != DefaultTimeout || s.attempts != DefaultAttempts || s.window != DefaultWindow {
		t.Errorf("defaults %+v", s)
	}
	if s, _ := (Config{Attempts: 1}).check(); s.attempts != 1 {
		t.Errorf("Attempts 1: %d attempts, want 1", s.attempts)
	}
	if s, _ := (Config{Attempts: MaxAttempts}).check(); s.attempts != MaxAttempts {
		t.Errorf("Attempts %d: %d attempts", MaxAttempts, s.attempts)
	}
	for _, tc := range []struct {
		cfg   Config
		field string
		value string
	}{
		{Config{SourcePorts: [2]uint16{2000, 1000}}, "SourcePorts", "2000-1000"},
		{Config{SourcePorts: [2]uint16{0, 1000}}, "SourcePorts", "0-1000"},
		{Config{Rate: -1}, "Rate", "-1"},
		{Config{Timeout: -time.Second}, "Timeout", "-1s"},
		{Config{Window: -1}, "Window", "-1"},
		{Config{Attempts: -1}, "Attempts", "-1"},
		{Config{Attempts: MaxAttempts + 1}, "Attempts", "256"},
	} {
		err := tc.cfg.Validate()
		var ce *ConfigError
		if !errors.As(err, &ce) || ce.Field != tc.field || !strings.Contains(err.Error(), tc.field+" "+tc.value) {
			t.Errorf("Validate(%+v) = %v, want a *ConfigError naming %s %s", tc.cfg, err, tc.field, tc.value)
		}
		if _, err := tc.cfg.check(); !errors.As(err, &ce) || ce.Field != tc.field {
			t.Errorf("check(%+v) = %v, want a *ConfigError naming %s", tc.cfg, err, tc.field)
		}
		if _, err := New(tc.cfg); !errors.As(err, &ce) || ce.Field != tc.field {
			t.Errorf("New(%+v) = %v, want a *ConfigError naming %s", tc.cfg, err, tc.field)
		}
	}
}

// TestConfigWithDefaults: zero fields take their defaults, set fields stay.
func TestConfigWithDefaults(t *testing.T) {
	want := Config{SourcePorts: [2]uint16{DefaultSourcePortLow, DefaultSourcePortHigh}, Timeout: DefaultTimeout, Attempts: DefaultAttempts, AttemptCeiling: DefaultAttemptCeiling, Window: DefaultWindow}
	if got := (Config{}).WithDefaults(); got != want {
		t.Errorf("Config{}.WithDefaults() = %+v, want %+v", got, want)
	}
	set := Config{SourcePorts: [2]uint16{40000, 40001}, Rate: 5, Timeout: time.Millisecond, Attempts: 1, AttemptCeiling: 4, Window: 7}
	if got := set.WithDefaults(); got != set {
		t.Errorf("WithDefaults changed set fields: %+v, want %+v", got, set)
	}
}

func TestCheckTarget(t *testing.T) {
	for _, bad := range []netip.AddrPort{
		{},
		netip.MustParseAddrPort("198.18.0.1:0"),
		netip.MustParseAddrPort("0.0.0.0:80"),
		netip.MustParseAddrPort("[::]:80"),
		netip.MustParseAddrPort("224.0.0.1:80"),
		netip.MustParseAddrPort("255.255.255.255:80"),
		netip.MustParseAddrPort("[fe80::1%eth0]:80"),
	} {
		if _, err := checkTarget(bad); err == nil || !strings.Contains(err.Error(), "bad target") {
			t.Errorf("checkTarget(%v) = %v, want a bad target error", bad, err)
		}
	}
	got, err := checkTarget(netip.MustParseAddrPort("[::ffff:198.18.0.1]:80"))
	if err != nil || got != netip.MustParseAddrPort("198.18.0.1:80") {
		t.Errorf("checkTarget(v4-mapped) = %v, %v; want 198.18.0.1:80", got, err)
	}
}

func TestScanNilArguments(t *testing.T) {
	p := &Prober{}
	if err := p.Scan(context.Background(), nil, func(Result) {}); err == nil || !strings.Contains(err.Error(), "nil targets") {
		t.Errorf("Scan(nil targets) = %v", err)
	}
	if err := p.Scan(context.Background(), func(func(netip.AddrPort) bool) {}, nil); err == nil || !strings.Contains(err.Error(), "nil yield") {
		t.Errorf("Scan(nil yield) = %v", err)
	}
}
