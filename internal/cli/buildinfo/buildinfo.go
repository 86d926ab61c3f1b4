// Package buildinfo says which rawprobe is running: the module version,
// the VCS revision and the Go version, as the Go toolchain recorded them
// in the binary. `rawprobe --version` prints it and the exporter serves it
// as rawprobe_build_info.
package buildinfo

import (
	"runtime/debug"
	"sync"
)

// Info describes the running binary. Fields the toolchain did not record
// are "unknown" (Version is "(devel)" for a build from a work tree).
type Info struct {
	// Version is the main module's version, e.g. "v1.2.0" or "(devel)".
	Version string
	// Revision is the VCS commit the binary was built from; Modified
	// says the work tree had uncommitted changes.
	Revision string
	Modified bool
	// GoVersion is the toolchain that built the binary, e.g. "go1.26.8".
	GoVersion string
}

var (
	once sync.Once
	info Info
)

// Read returns the running binary's Info; it is read once.
func Read() Info {
	once.Do(func() { info = fromBuildInfo(debug.ReadBuildInfo()) })
	return info
}

// fromBuildInfo extracts Info from what debug.ReadBuildInfo returned.
func fromBuildInfo(bi *debug.BuildInfo, ok bool) Info {
	in := Info{Version: "unknown", Revision: "unknown", GoVersion: "unknown"}
	if !ok || bi == nil {
		return in
	}
	in.GoVersion = bi.GoVersion
	if bi.Main.Version != "" {
		in.Version = bi.Main.Version
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			in.Revision = s.Value
		case "vcs.modified":
			in.Modified = s.Value == "true"
		}
	}
	return in
}

// String is the one line `rawprobe --version` prints:
// "rawprobe VERSION (commit REVISION[, modified]) GOVERSION".
func (in Info) String() string {
	rev := in.Revision
	if in.Modified {
		rev += ", modified"
	}
	return "rawprobe " + in.Version + " (commit " + rev + ") " + in.GoVersion
}
