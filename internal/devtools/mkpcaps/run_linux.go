package main

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"time"

	"github.com/rawprobe/rawprobe/internal/verify/golden/record"
)

// run records the scenarios called names (all when empty) into dir.
func run(dir string, names []string) (err error) {
	defs := record.Defs()
	for _, name := range names {
		if !slices.ContainsFunc(defs, func(d record.Def) bool { return d.Name == name }) {
			return fmt.Errorf("no scenario called %q", name)
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	// Remove the network on every way out, an interrupt included.
	n, l, remove, err := record.SetupNetwork()
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, remove()) }()
	if err := record.WaitReady(n, 10*time.Second); err != nil {
		return err
	}
	var failed []error
	for _, d := range defs {
		if len(names) > 0 && !slices.Contains(names, d.Name) {
			continue
		}
		s, err := record.Record(n, l, d, dir)
		if err != nil {
			failed = append(failed, err)
			fmt.Fprintln(os.Stderr, "FAIL", err)
			continue
		}
		fmt.Printf("%-18s %-40s %s\n", s.Name, s.Prober.String()+" -> "+s.Target.String(), s.Flags)
	}
	return errors.Join(failed...)
}
