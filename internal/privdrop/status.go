package privdrop

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// Status is the capability state of one thread or process, as
// /proc/PID/status shows it.
type Status struct {
	Inheritable, Permitted, Effective, Bounding, Ambient uint64
	NoNewPrivs                                           bool
}

// ReadStatus reads the capability lines of a /proc/.../status file.
func ReadStatus(name string) (Status, error) {
	b, err := os.ReadFile(name)
	if err != nil {
		return Status{}, err
	}
	var st Status
	seen := 0
	for line := range strings.SplitSeq(string(b), "\n") {
		key, val, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		val = strings.TrimSpace(val)
		var dst *uint64
		switch key {
		case "CapInh":
			dst = &st.Inheritable
		case "CapPrm":
			dst = &st.Permitted
		case "CapEff":
			dst = &st.Effective
		case "CapBnd":
			dst = &st.Bounding
		case "CapAmb":
			dst = &st.Ambient
		case "NoNewPrivs":
			st.NoNewPrivs = val == "1"
			continue
		default:
			continue
		}
		if *dst, err = strconv.ParseUint(val, 16, 64); err != nil {
			return Status{}, fmt.Errorf("privdrop: %s: bad %s %q", name, key, val)
		}
		seen++
	}
	if seen != 5 {
		return Status{}, fmt.Errorf("privdrop: %s has %d of the 5 Cap lines", name, seen)
	}
	return st, nil
}
