package rawcheck

import (
	"context"
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
	if s.portLow != DefaultSourcePortLow || s.portHigh != DefaultSourcePortHigh || s.timeout != DefaultTimeout || s.attempts != 1+DefaultRetries || s.window != DefaultWindow {
		t.Errorf("defaults %+v", s)
	}
	if s, _ := (Config{Retries: -1}).check(); s.attempts != 1 {
		t.Errorf("Retries -1: %d attempts, want 1", s.attempts)
	}
	for _, tc := range []struct {
		cfg  Config
		word string
	}{
		{Config{SourcePorts: [2]uint16{2000, 1000}}, "SourcePorts"},
		{Config{SourcePorts: [2]uint16{0, 1000}}, "SourcePorts"},
		{Config{Rate: -1}, "Rate"},
		{Config{Timeout: -time.Second}, "Timeout"},
		{Config{Window: -1}, "Window"},
		{Config{Retries: 1000}, "Retries"},
	} {
		if _, err := tc.cfg.check(); err == nil || !strings.Contains(err.Error(), tc.word) {
			t.Errorf("check(%+v) = %v, want an error naming %s", tc.cfg, err, tc.word)
		}
		if _, err := New(tc.cfg); err == nil || !strings.Contains(err.Error(), tc.word) {
			t.Errorf("New(%+v) = %v, want an error naming %s", tc.cfg, err, tc.word)
		}
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
