package internal_test

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestLayoutDocumented: every package of the module is named in README's
// layout table and in internal/doc.go, so neither can fall behind a
// package that is added or moved. Negative control: a made-up package is
// reported missing.
func TestLayoutDocumented(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("the go tool is not on PATH: cannot list the module's packages")
	}
	out, err := exec.Command("go", "list", "-f", "{{.ImportPath}}", "github.com/rawprobe/rawprobe/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	doc, err := os.ReadFile("doc.go")
	if err != nil {
		t.Fatal(err)
	}
	var pkgs []string
	for _, p := range strings.Fields(string(out)) {
		pkgs = append(pkgs, strings.TrimPrefix(strings.TrimPrefix(p, "github.com/rawprobe/rawprobe"), "/"))
	}
	if len(pkgs) < 10 {
		t.Fatalf("go list found only %v", pkgs)
	}
	for _, p := range pkgs {
		if p == "" {
			continue // the module root has no package
		}
		if m := missingFromTable(string(readme), p); m {
			t.Errorf("README.md's layout table has no row for %s", p)
		}
		if rel, ok := strings.CutPrefix(p, "internal/"); ok && !strings.Contains(string(doc), "//   - "+rel+":") {
			t.Errorf("internal/doc.go lists no %s", p)
		}
	}
	if !missingFromTable(string(readme), "internal/made-up") {
		t.Error("negative control: a made-up package was found in the table")
	}
}

// missingFromTable reports whether README's table lacks a row "| `pkg` |".
func missingFromTable(readme, pkg string) bool {
	return !strings.Contains(readme, "\n| `"+pkg+"` |")
}
