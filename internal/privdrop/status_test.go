package privdrop

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const statusText = `Name:	rawprobe
Uid:	0	0	0	0
NoNewPrivs:	1
CapInh:	0000000000000000
CapPrm:	0000000000002000
CapEff:	0000000000000000
CapBnd:	000001ffffffffff
CapAmb:	0000000000000000
Seccomp:	0
`

func TestReadStatus(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "status")
	if err := os.WriteFile(good, []byte(statusText), 0o600); err != nil {
		t.Fatal(err)
	}
	st, err := ReadStatus(good)
	if err != nil {
		t.Fatal(err)
	}
	want := Status{Permitted: 0x2000, Bounding: 0x1ffffffffff, NoNewPrivs: true}
	if st != want {
		t.Errorf("ReadStatus = %+v, want %+v", st, want)
	}
	// A file without every Cap line, or with a bad value, is an error.
	for name, text := range map[string]string{
		"missing": strings.Replace(statusText, "CapAmb:	0000000000000000\n", "", 1),
		"bad":     strings.Replace(statusText, "CapEff:	0000000000000000", "CapEff:	zz", 1),
	} {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		if st, err := ReadStatus(p); err == nil {
			t.Errorf("%s: ReadStatus = %+v, want an error", name, st)
		}
	}
}
