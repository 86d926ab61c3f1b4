package rawcheck

import (
	"context"
	"encoding/binary"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/rawprobe/rawprobe/internal/verify/netlab"
	"github.com/rawprobe/rawprobe/internal/verify/testnet"
	"github.com/rawprobe/rawprobe/synack"
)

// seqTap records the sequence number of every SYN the engine sends.
type seqTap struct {
	mu   sync.Mutex
	seqs []uint32
}

func (s *seqTap) Packet(_ time.Time, ip []byte, link synack.LinkType, sent bool) {
	if !sent || link != synack.LinkIP || len(ip) < 20 || ip[0]>>4 != 4 {
		return
	}
	tcp := ip[int(ip[0]&0x0f)*4:]
	if len(tcp) < 14 || tcp[13] != synack.FlagSYN {
		return
	}
	s.mu.Lock()
	s.seqs = append(s.seqs, binary.BigEndian.Uint32(tcp[4:]))
	s.mu.Unlock()
}

func (s *seqTap) all() []uint32 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]uint32(nil), s.seqs...)
}

// TestConfigCookieKey: with Config.CookieKey set, the SYN of a Probe
// carries key.Sequence(prober, target, source port, target port, nonce)
// as its sequence number, the nonce being the one the engine drew for the
// probe (and remembers once it finished), and the SYN-ACK validated with
// that key and nonce makes the probe open. Changing the caller's key after New changes nothing.
// Negative control: a Prober with no key (a random one) sends another
// sequence number to the same target from a port of its own and finds the
// port open too.
func TestConfigCookieKey(t *testing.T) {
	n := testnet.New(t)
	n.Listen(t, "tcp", ":80")
	target := netip.AddrPortFrom(netlab.Nth(n.Answering4, 21), 80)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	key := synack.CookieKey{K0: 0x0123456789abcdef, K1: 0xfedcba9876543210}
	given := key
	tap := &seqTap{}
	p := newInProber(t, n, Config{SourcePorts: [2]uint16{61010, 61010}, CookieKey: &given, Attempts: 1, Tap: tap})
	given.K0++ // the engine keeps its own copy
	if r, err := p.Probe(ctx, target); err != nil || r.State != Open {
		t.Fatalf("Probe with a given key: %+v, %v; want open", r, err)
	}
	k := keyOf(target, 61010)
	p.e.mu.Lock()
	nonce := p.e.nonces.remembered(&k)
	p.e.mu.Unlock()
	want := key.Sequence(n.ProberAddr4, target.Addr(), 61010, target.Port(), nonce)
	if seqs := tap.all(); nonce == 0 || len(seqs) != 1 || seqs[0] != want {
		t.Fatalf("SYNs sent with the given key: seq %#x, want one with the key's cookie XOR the nonce %#x: %#x", seqs, nonce, want)
	}

	ctrlTap := &seqTap{}
	ctrl := newInProber(t, n, Config{SourcePorts: [2]uint16{61011, 61011}, Attempts: 1, Tap: ctrlTap})
	if r, err := ctrl.Probe(ctx, target); err != nil || r.State != Open {
		t.Fatalf("control Probe with a random key: %+v, %v; want open", r, err)
	}
	notWant := key.Cookie(n.ProberAddr4, target.Addr(), 61011, target.Port())
	if seqs := ctrlTap.all(); len(seqs) != 1 || seqs[0] == notWant {
		t.Fatalf("control SYNs %#x: want one whose seq is not the given key's cookie %#x", seqs, notWant)
	}
}
