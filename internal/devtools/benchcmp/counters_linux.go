package main

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/rawprobe/rawprobe/internal/verify/netlab"
)

// counterSet are the target's counts a run is judged by.
type counterSet struct {
	synIn        uint64 // SYNs arriving on the target's link, before any loss
	ackIn        uint64 // segments from the prober with ACK and neither SYN nor RST
	synackOut    uint64 // SYN-ACKs the target sent
	passiveOpens uint64 // Tcp.PassiveOpens: handshakes completed at the target
}

func (a counterSet) minus(b counterSet) counterSet {
	return counterSet{a.synIn - b.synIn, a.ackIn - b.ackIn, a.synackOut - b.synackOut, a.passiveOpens - b.passiveOpens}
}

// counterRules count, in the target namespace, on its link: SYNs before
// the loss rule (priority -300) can drop them, ACK-bearing segments other
// than SYN-ACKs and RSTs, and the SYN-ACKs sent.
const counterRules = `table inet benchcmp {
	counter synin {}
	counter ackin {}
	counter synackout {}
	chain prerouting {
		type filter hook prerouting priority -400; policy accept;
		iifname %[1]q tcp flags & (syn | ack) == syn counter name "synin"
		iifname %[1]q tcp flags & (syn | rst | ack) == ack counter name "ackin"
	}
	chain output {
		type filter hook output priority 0; policy accept;
		oifname %[1]q tcp flags & (syn | ack | rst) == syn | ack counter name "synackout"
	}
}
`

func nft(n *netlab.Net, stdin string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := n.TargetCmd(ctx, "nft", args...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("nft %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

// addCounters installs counterRules in the target namespace (removed with
// it).
func addCounters(n *netlab.Net) error {
	_, err := nft(n, fmt.Sprintf(counterRules, n.TargetLink), "-f", "-")
	return err
}

var counterRE = regexp.MustCompile(`counter (\w+) \{\s*packets (\d+)`)

// readCounters reads the nft counters and Tcp.PassiveOpens.
func readCounters(n *netlab.Net) (counterSet, error) {
	var c counterSet
	out, err := nft(n, "", "list", "counters", "table", "inet", "benchcmp")
	if err != nil {
		return c, err
	}
	found := 0
	for _, m := range counterRE.FindAllStringSubmatch(out, -1) {
		v, _ := strconv.ParseUint(m[2], 10, 64)
		switch m[1] {
		case "synin":
			c.synIn = v
		case "ackin":
			c.ackIn = v
		case "synackout":
			c.synackOut = v
		default:
			continue
		}
		found++
	}
	if found != 3 {
		return c, fmt.Errorf("nft counters: found %d of 3 in %q", found, out)
	}
	snmp, err := n.TargetCounters()
	if err != nil {
		return c, err
	}
	c.passiveOpens = snmp["Tcp.PassiveOpens"]
	return c, nil
}
