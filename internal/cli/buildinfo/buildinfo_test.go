package buildinfo

import (
	"runtime"
	"runtime/debug"
	"testing"
)

func TestFromBuildInfo(t *testing.T) {
	bi := &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v1.2.0"},
		Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "abc123"}, {Key: "vcs.modified", Value: "true"}}}
	got := fromBuildInfo(bi, true)
	if want := (Info{Version: "v1.2.0", Revision: "abc123", Modified: true, GoVersion: "go1.26.8"}); got != want {
		t.Errorf("fromBuildInfo = %+v, want %+v", got, want)
	}
	if s := got.String(); s != "rawprobe v1.2.0 (commit abc123, modified) go1.26.8" {
		t.Errorf("String = %q", s)
	}
	if got := fromBuildInfo(nil, false); got.Version != "unknown" || got.Revision != "unknown" {
		t.Errorf("no build info: %+v", got)
	}
}

func TestReadRunningBinary(t *testing.T) {
	if in := Read(); in.GoVersion != runtime.Version() {
		t.Errorf("Read().GoVersion = %q, want the running toolchain %q", in.GoVersion, runtime.Version())
	}
}
