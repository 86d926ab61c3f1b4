package workerreport

import (
	"os"
	"runtime"
	"testing"
)

// TestParseVmHWM reads the peak from a status text, and refuses texts
// without one or in another unit (the negative controls).
func TestParseVmHWM(t *testing.T) {
	got, err := parseVmHWM([]byte("Name:\tscanworker\nVmPeak:\t  1240868 kB\nVmHWM:\t   23736 kB\nVmRSS:\t   20000 kB\n"))
	if err != nil || got != 23736 {
		t.Errorf("parseVmHWM = %d, %v; want 23736", got, err)
	}
	for _, bad := range []string{"Name:\tx\nVmRSS:\t 1 kB\n", "VmHWM:\t 5 MB\n", "VmHWM:\t kB\n"} {
		if v, err := parseVmHWM([]byte(bad)); err == nil {
			t.Errorf("parseVmHWM(%q) = %d, want an error", bad, v)
		}
	}
}

// TestPeakRSSKBGrows checks the real reading: at least what a touched
// 64 MiB buffer adds.
func TestPeakRSSKBGrows(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("VmHWM is Linux's")
	}
	if _, err := os.Stat("/proc/self/status"); err != nil {
		t.Skip("no /proc")
	}
	before, err := PeakRSSKB()
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64<<20)
	for i := 0; i < len(buf); i += 4096 {
		buf[i] = 1
	}
	after, err := PeakRSSKB()
	if err != nil {
		t.Fatal(err)
	}
	runtime.KeepAlive(buf)
	if after < before+60<<10 {
		t.Errorf("peak RSS %d KiB after touching 64 MiB, %d KiB before: want at least 60 MiB more", after, before)
	}
}
