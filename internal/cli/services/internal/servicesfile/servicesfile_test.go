package servicesfile

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"testing/iotest"
)

func TestParse(t *testing.T) {
	const text = `# comment
http		80/tcp		www		# WorldWideWeb HTTP
discard		9/tcp/udp/sctp/dccp	# Discard (Wireshark's merged form)
   
bad		x/tcp
bad		1/
bad		1/tcp//udp
bad2
big		65536/tcp
max		65535/udp
`
	var got []Entry
	if err := Parse(strings.NewReader(text), func(e Entry) { got = append(got, e) }); err != nil {
		t.Fatal(err)
	}
	want := []Entry{
		{"http", 80, "tcp"},
		{"discard", 9, "tcp"}, {"discard", 9, "udp"}, {"discard", 9, "sctp"}, {"discard", 9, "dccp"},
		{"max", 65535, "udp"},
	}
	if !slices.Equal(got, want) {
		t.Errorf("Parse = %v, want %v", got, want)
	}
	readErr := errors.New("read failed")
	if err := Parse(iotest.ErrReader(readErr), func(Entry) {}); !errors.Is(err, readErr) {
		t.Errorf("Parse of a failing reader = %v", err)
	}
}
