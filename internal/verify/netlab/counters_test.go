package netlab

import "testing"

func TestParseSNMP(t *testing.T) {
	text := []byte("Ip: Forwarding DefaultTTL InReceives\nIp: 2 64 1686\n" +
		"Tcp: RtoAlgorithm MaxConn PassiveOpens\nTcp: 1 -1 7\n")
	m := map[string]uint64{}
	if err := parseSNMP(m, text); err != nil {
		t.Fatal(err)
	}
	want := map[string]uint64{"Ip.Forwarding": 2, "Ip.DefaultTTL": 64, "Ip.InReceives": 1686, "Tcp.RtoAlgorithm": 1, "Tcp.PassiveOpens": 7}
	if len(m) != len(want) {
		t.Errorf("got %d counters %v, want %d", len(m), m, len(want))
	}
	for k, v := range want {
		if m[k] != v {
			t.Errorf("%s = %d, want %d", k, m[k], v)
		}
	}
	if _, ok := m["Tcp.MaxConn"]; ok {
		t.Error("negative Tcp.MaxConn should be left out")
	}
}

func TestParseSNMPRejectsMismatch(t *testing.T) {
	for name, text := range map[string]string{
		"fewer values": "Tcp: A B\nTcp: 1\n",
		"other group":  "Tcp: A\nUdp: 1\n",
		"no values":    "Tcp: A\n",
		"not a number": "Tcp: A\nTcp: x\n",
	} {
		if err := parseSNMP(map[string]uint64{}, []byte(text)); err == nil {
			t.Errorf("%s: parsed %q without error", name, text)
		}
	}
}

func TestParseSNMP6(t *testing.T) {
	m := map[string]uint64{}
	text := "Ip6InReceives                   \t12\nIcmp6OutDestUnreachs 3\nUdpLite6InErrors 0\nIcmp6InType135 4\n"
	if err := parseSNMP6(m, []byte(text)); err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]uint64{"Ip6.InReceives": 12, "Icmp6.OutDestUnreachs": 3, "UdpLite6.InErrors": 0, "Icmp6.InType135": 4} {
		if got, ok := m[k]; !ok || got != v {
			t.Errorf("%s = %d (present %v), want %d", k, got, ok, v)
		}
	}
	if err := parseSNMP6(map[string]uint64{}, []byte("Ip6InReceives -1\n")); err == nil {
		t.Error("negative snmp6 value parsed without error")
	}
}

func TestLossRule(t *testing.T) {
	for _, f := range []float64{-0.1, 1.01, 2} {
		if _, err := lossRule(f); err == nil {
			t.Errorf("lossRule(%v) accepted", f)
		}
	}
	nan := 0.0
	nan = nan / nan
	if _, err := lossRule(nan); err == nil {
		t.Error("lossRule(NaN) accepted")
	}
	for f, want := range map[float64]int{0: 0, 0.5: 5000, 1: 10000, 0.00005: 1} {
		if got, err := lossRule(f); err != nil || got != want {
			t.Errorf("lossRule(%v) = %d, %v; want %d", f, got, err, want)
		}
	}
}

func TestParseSoftnetDrops(t *testing.T) {
	text := "016d5dc2 00000000 00000000 00000000\n01a0270a 0000000a 00000001 00000000\n"
	if got, err := parseSoftnetDrops([]byte(text)); err != nil || got != 10 {
		t.Errorf("parseSoftnetDrops = %d, %v; want 10", got, err)
	}
	for _, bad := range []string{"016d5dc2\n", "016d5dc2 zz\n"} {
		if _, err := parseSoftnetDrops([]byte(bad)); err == nil {
			t.Errorf("parseSoftnetDrops(%q) accepted", bad)
		}
	}
}
