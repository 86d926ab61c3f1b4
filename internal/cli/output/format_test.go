package output

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
)

// TestParseFormat: every name in Formats parses to a Format that writes
// that format; any other name is an error naming it.
func TestParseFormat(t *testing.T) {
	for _, name := range Formats {
		f, err := ParseFormat(name)
		if err != nil || f.String() != name {
			t.Fatalf("ParseFormat(%q) = %v, %v", name, f, err)
		}
		var viaFormat, viaName bytes.Buffer
		w := f.NewWriter(&viaFormat)
		w.Write(sample[0])
		w.Flush()
		w, _ = NewWriter(name, &viaName)
		w.Write(sample[0])
		w.Flush()
		if viaFormat.Len() == 0 || viaFormat.String() != viaName.String() {
			t.Errorf("%s: Format.NewWriter wrote %q, NewWriter %q", name, viaFormat.String(), viaName.String())
		}
	}
	for _, bad := range []string{"xml", "", "TEXT"} {
		if _, err := ParseFormat(bad); err == nil || !strings.Contains(err.Error(), fmt.Sprintf("%q", bad)) {
			t.Errorf("ParseFormat(%q) = %v, want an error naming it", bad, err)
		}
	}
	if (Format{}).String() != "text" {
		t.Error("the zero Format is not text")
	}
}
