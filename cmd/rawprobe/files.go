package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
)

// outputMode is the permission of the output files rawprobe creates.
const outputMode = 0o644

// outputFile is an output file to open: name, and whether to append to
// it (a resumed scan) or to replace what it holds.
type outputFile struct {
	name   string
	append bool
}

// symlinkError refuses an output path that is a symbolic link while
// rawprobe runs as root, which would write wherever the link points.
type symlinkError struct{ name string }

func (e *symlinkError) Error() string {
	return fmt.Sprintf("refusing to write %s: it is a symbolic link, and rawprobe does not follow one when run as root", e.name)
}

// openOutputFiles opens every one of outs, creating missing files with
// mode 0644 and refusing symbolic links when privileged. Only once all are
// open are the regular files to replace truncated, so that an error opening one
// leaves the others' contents as they were. The files are returned in the
// order of outs.
func openOutputFiles(outs []outputFile, privileged bool) ([]*os.File, error) {
	files := make([]*os.File, 0, len(outs))
	fail := func(err error) ([]*os.File, error) {
		for _, f := range files {
			f.Close()
		}
		return nil, err
	}
	for _, o := range outs {
		flag := os.O_WRONLY | os.O_CREATE
		if o.append {
			flag |= os.O_APPEND
		}
		f, err := openNoFollow(o.name, flag, privileged)
		if err != nil {
			return fail(err)
		}
		files = append(files, f)
	}
	for i, o := range outs {
		if o.append {
			continue
		}
		if fi, err := files[i].Stat(); err != nil || !fi.Mode().IsRegular() {
			continue // a device or pipe (/dev/null, a FIFO) has nothing to truncate
		}
		if err := files[i].Truncate(0); err != nil {
			return fail(fmt.Errorf("truncating %s: %w", o.name, err))
		}
	}
	return files, nil
}

// lateWriter holds what is written to it until attach gives it its
// destination: the capture's packets are taken from the engine's start,
// before the output files may be opened. It is safe for concurrent use.
type lateWriter struct {
	mu  sync.Mutex
	buf bytes.Buffer
	w   io.Writer
}

func (l *lateWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.w != nil {
		return l.w.Write(p)
	}
	return l.buf.Write(p)
}

// attach writes what was held to w and sends every later write there.
func (l *lateWriter) attach(w io.Writer) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.w = w
	_, err := w.Write(l.buf.Bytes())
	l.buf = bytes.Buffer{}
	return err
}

// isSymlinkRefusal reports whether err is an output refused for being a
// symbolic link.
func isSymlinkRefusal(err error) bool {
	var se *symlinkError
	return errors.As(err, &se)
}
