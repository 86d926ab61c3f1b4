package demo

import (
	"bytes"
	"context"
	"os/exec"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/rawprobe/rawprobe/internal/privdrop"
	"github.com/rawprobe/rawprobe/internal/verify/testnet"
)

// TestNamespaces runs the whole demo in namespaces, checks every line of
// its output and that its namespaces are gone afterwards. The prober asks
// once to drop its capabilities, keeping CAP_NET_ADMIN and CAP_SYS_ADMIN
// for the removal (the drop itself is not done in the test process, which
// other tests need privileged: the command's TestDemo runs it for real).
func TestNamespaces(t *testing.T) {
	testnet.RequirePrivileges(t)
	var out bytes.Buffer
	var drops [][]privdrop.Capability
	drop := func(keep ...privdrop.Capability) error {
		drops = append(drops, keep)
		return nil
	}
	passed, err := Run(context.Background(), &out, drop)
	text := out.String()
	if err != nil || !passed {
		t.Fatalf("passed %v, err %v\n%s", passed, err, text)
	}
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`raw engine in private network namespaces (\S+) \(prober\) and (\S+) \(target\)`),
		regexp.MustCompile(`(?m)^  open +198\.18\.0\.1:80 +open +rtt \S+ +SYN → SYN-ACK → RST$`),
		regexp.MustCompile(`(?m)^  closed +198\.18\.0\.1:81 +closed +rtt \S+ +SYN → RST \(from target\)$`),
		regexp.MustCompile(`(?m)^  silent +198\.19\.0\.1:80 +timeout +2 attempts +SYN ×2 → no reply$`),
		regexp.MustCompile(`(?m)^  unreachable +203\.0\.113\.1:80 +unreachable +rtt \S+ +SYN → ICMP unreachable type 3 code \d+$`),
		regexp.MustCompile(`(?m)^verdict: PASS — 4 targets as expected; .*accepted 0 connections`),
	} {
		if !want.MatchString(text) {
			t.Errorf("output does not match %v:\n%s", want, text)
		}
	}
	if want := [][]privdrop.Capability{{privdrop.NetAdmin, privdrop.SysAdmin}}; !reflect.DeepEqual(drops, want) {
		t.Errorf("drop calls %v, want %v", drops, want)
	}
	m := regexp.MustCompile(`namespaces (\S+) \(prober\) and (\S+) \(target\)`).FindStringSubmatch(text)
	list, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		t.Fatal(err)
	}
	if m != nil && (strings.Contains(string(list), m[1]) || strings.Contains(string(list), m[2])) {
		t.Errorf("namespaces %s, %s left behind:\n%s", m[1], m[2], list)
	}
}
