package engine

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/rawprobe/rawprobe/rawcheck"
)

// TestConfigValidate: a bad name or setting is rejected by Validate and by
// Open, with an error of a type that says which, before anything is
// opened; a good Config passes.
func TestConfigValidate(t *testing.T) {
	for _, name := range []string{Raw, Connect, Auto} {
		if err := Validate(name, Config{Rate: 10, Timeout: time.Second, Attempts: 1, Window: 1}); err != nil {
			t.Errorf("Validate(%q, good) = %v", name, err)
		}
	}
	var ue *UnknownEngineError
	if err := Validate("turbo", Config{}); !errors.As(err, &ue) || ue.Name != "turbo" {
		t.Errorf("Validate(turbo) = %v, want an *UnknownEngineError naming turbo", err)
	}
	for _, tc := range []struct {
		cfg   Config
		field string
	}{
		{Config{Rate: -1}, "Rate"},
		{Config{Timeout: -time.Second}, "Timeout"},
		{Config{Attempts: -1}, "Attempts"},
		{Config{Attempts: rawcheck.MaxAttempts + 1}, "Attempts"},
		{Config{Window: -1}, "Window"},
		{Config{SourcePorts: [2]uint16{9, 1}}, "SourcePorts"},
	} {
		for _, name := range []string{Raw, Connect, Auto} {
			var ce *rawcheck.ConfigError
			if err := Validate(name, tc.cfg); !errors.As(err, &ce) || ce.Field != tc.field {
				t.Errorf("Validate(%q, %+v) = %v, want a *rawcheck.ConfigError for %s", name, tc.cfg, err, tc.field)
			}
			e, note, err := Open(name, tc.cfg)
			if !errors.As(err, &ce) || ce.Field != tc.field || e != nil || note != "" {
				t.Errorf("Open(%q, %+v) = %v, %q, %v; want nothing opened and the *rawcheck.ConfigError", name, tc.cfg, e, note, err)
			}
		}
	}
}

// TestConfigDefaults: the connect engine reads a zero Timeout and Attempts
// as rawcheck's defaults, and set values as given (1 attempt: no retry).
func TestConfigDefaults(t *testing.T) {
	if got := (Config{}).timeout(); got != rawcheck.DefaultTimeout {
		t.Errorf("zero Timeout: %v, want %v", got, rawcheck.DefaultTimeout)
	}
	for _, tc := range []struct{ attempts, want int }{{0, rawcheck.DefaultAttempts}, {1, 1}, {5, 5}} {
		f := &fakeChecker{}
		e := newConnect(f, func() error { return nil }, Config{Attempts: tc.attempts, Timeout: time.Millisecond})
		res, err := e.Probe(context.Background(), ap("198.18.0.3:80")) // silent
		if err != nil || res.State != rawcheck.Timeout || res.Attempts != tc.want || f.calls.Load() != int64(tc.want) {
			t.Errorf("Attempts %d: %+v, %v, %d checks; want a timeout after %d attempts", tc.attempts, res, err, f.calls.Load(), tc.want)
		}
	}
}
