package output

import (
	"bufio"
	"encoding/csv"
	"fmt"
	"io"
	"slices"
	"strings"
)

// Format is an output format, as ParseFormat returns it. The zero Format
// is text.
type Format struct{ name string }

// ParseFormat returns the format named s, one of Formats (see NewWriter),
// and an error naming s for any other name. It is the one
// check of a format name: a Format it returns always makes a Writer.
func ParseFormat(s string) (Format, error) {
	if !slices.Contains(Formats, s) {
		return Format{}, fmt.Errorf("unknown output format %q: want %s", s, strings.Join(Formats, ", "))
	}
	return Format{s}, nil
}

// String returns the format's name.
func (f Format) String() string {
	if f.name == "" {
		return "text"
	}
	return f.name
}

// NewWriter returns a Writer of format f writing to w.
func (f Format) NewWriter(w io.Writer) Writer {
	switch f.name {
	case "jsonl":
		return &jsonlWriter{w: bufio.NewWriter(w)}
	case "csv":
		return &csvWriter{w: csv.NewWriter(w)}
	}
	return &textWriter{w: bufio.NewWriter(w)}
}

// NewAppendWriter returns a Writer of format f that continues output
// already in w, written by a Writer of the same format: csv writes no
// second header; text and jsonl are the same as NewWriter's.
func (f Format) NewAppendWriter(w io.Writer) Writer {
	if f.name == "csv" {
		return &csvWriter{w: csv.NewWriter(w), header: true}
	}
	return f.NewWriter(w)
}
