package exporter

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rawprobe/rawprobe/rawcheck"
)

// statsCollector exports each distinct prober's rawcheck.Stats as counters
// labelled with the module names that use it.
type statsCollector struct {
	probers []Prober
	labels  []string
	descs   []statDesc
}

type statDesc struct {
	desc *prometheus.Desc
	get  func(rawcheck.Stats) uint64
}

func newStatsCollector(modules map[string]Prober) *statsCollector {
	c := &statsCollector{}
	seen := map[Prober]int{}
	for _, name := range moduleNames(modules) {
		p := modules[name]
		if i, ok := seen[p]; ok {
			c.labels[i] += "," + name
			continue
		}
		seen[p] = len(c.probers)
		c.probers = append(c.probers, p)
		c.labels = append(c.labels, name)
	}
	d := func(name, help string, get func(rawcheck.Stats) uint64) statDesc {
		return statDesc{prometheus.NewDesc("rawprobe_engine_"+name+"_total", help, []string{"module"}, nil), get}
	}
	c.descs = []statDesc{
		d("syn_sent", "SYNs sent, retries included.", func(s rawcheck.Stats) uint64 { return s.Sent }),
		d("syn_retransmitted", "SYNs sent again after an attempt timed out.", func(s rawcheck.Stats) uint64 { return s.Retransmitted }),
		d("replies_received", "Valid replies received (SYN-ACK, RST, ICMP unreachable).", func(s rawcheck.Stats) uint64 { return s.Received }),
		d("replies_invalid", "Replies dropped because their cookie did not match.", func(s rawcheck.Stats) uint64 { return s.Invalid }),
		d("replies_late", "Valid replies that matched no pending probe.", func(s rawcheck.Stats) uint64 { return s.Late }),
		d("results_open", "Probes that ended open.", func(s rawcheck.Stats) uint64 { return s.Open }),
		d("results_closed", "Probes that ended closed.", func(s rawcheck.Stats) uint64 { return s.Closed }),
		d("results_unreachable", "Probes that ended unreachable (an ICMP error answered the SYN, or the next hop's neighbour was never resolved).", func(s rawcheck.Stats) uint64 { return s.Unreachable }),
		d("results_noroute", "Probes that ended without a SYN sent because the prober had no route to the target.", func(s rawcheck.Stats) uint64 { return s.NoRoute }),
		d("results_timeout", "Probes that ended without a reply.", func(s rawcheck.Stats) uint64 { return s.Timeouts }),
		d("rst_sent", "RSTs the engine sent itself.", func(s rawcheck.Stats) uint64 { return s.RSTSent }),
		d("send_errors", "Packets the kernel refused to send.", func(s rawcheck.Stats) uint64 { return s.SendErrors }),
		d("ring_drops", "Packets dropped because the receive ring was full.", func(s rawcheck.Stats) uint64 { return s.RingDrops }),
	}
	return c
}

// Describe sends every metric's description.
func (c *statsCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.descs {
		ch <- d.desc
	}
}

// Collect sends the current counters of every prober.
func (c *statsCollector) Collect(ch chan<- prometheus.Metric) {
	for i, p := range c.probers {
		s := p.Stats()
		for _, d := range c.descs {
			ch <- prometheus.MustNewConstMetric(d.desc, prometheus.CounterValue, float64(d.get(s)), c.labels[i])
		}
	}
}

func quote(v any) string { return fmt.Sprintf("%q", v) }
