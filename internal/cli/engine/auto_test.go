package engine

import (
	"errors"
	"os"
	"strings"
	"testing"
)

// TestOpenAuto checks the automatic choice: the raw engine when the raw
// engine opens, else the connect engine with a note naming the reason.
func TestOpenAuto(t *testing.T) {
	raw, rawErr := openRaw(Config{})
	if raw != nil {
		raw.Close()
	}
	e, note, err := Open(Auto, Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if rawErr == nil {
		if e.Name() != Raw || note != "" {
			t.Errorf("raw engine available, Auto chose %q with note %q", e.Name(), note)
		}
		return
	}
	if e.Name() != Connect || !strings.Contains(note, "connect engine") || !strings.Contains(note, rawErr.Error()) {
		t.Errorf("raw engine unavailable (%v), Auto chose %q with note %q", rawErr, e.Name(), note)
	}
	if errors.Is(rawErr, os.ErrPermission) && !strings.Contains(note, "CAP_NET_RAW") {
		t.Errorf("note %q does not name CAP_NET_RAW", note)
	}
	if _, _, err := Open(Raw, Config{}); !errors.Is(err, rawErr) && err.Error() != rawErr.Error() {
		t.Errorf("Open(Raw) = %v, want %v", err, rawErr)
	}
}
