package targets

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
)

// fakeResolver answers from a fixed table and fails for anything else.
type fakeResolver map[string][]netip.Addr

func (f fakeResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	if a, ok := f[host]; ok {
		return a, nil
	}
	return nil, fmt.Errorf("no such host")
}

var testResolver = fakeResolver{
	"db.example":   {netip.MustParseAddr("2001:db8::5"), netip.MustParseAddr("198.18.0.5")},
	"v6.example":   {netip.MustParseAddr("2001:db8::6")},
	"none.example": {},
}

func build(t *testing.T, ports string, tokens ...string) (*Set, error) {
	t.Helper()
	b := &Builder{Resolver: testResolver}
	if ports != "" {
		p, err := ParsePorts(ports)
		if err != nil {
			t.Fatalf("ParsePorts(%q): %v", ports, err)
		}
		b.Ports = p
	}
	for _, tok := range tokens {
		if err := b.Add(context.Background(), tok); err != nil {
			return nil, err
		}
	}
	return b.Build()
}

func all(s *Set) []string {
	var out []string
	for i := uint64(0); i < s.Len(); i++ {
		out = append(out, s.Name(s.At(i)))
	}
	return out
}

func TestParsePorts(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"80", "80"},
		{"443,80", "80,443"},
		{"8000-8003,8002-8010,22", "22,8000-8010"},
		{"1,2,3", "1-3"},
		{"65535", "65535"},
	} {
		p, err := ParsePorts(tc.in)
		if err != nil || p.String() != tc.want {
			t.Errorf("ParsePorts(%q) = %q, %v; want %q", tc.in, p, err, tc.want)
		}
	}
	p, _ := ParsePorts("8000-8100,22")
	if p.Len() != 102 || p.At(0) != 22 || p.At(1) != 8000 || p.At(101) != 8100 {
		t.Errorf("Len/At wrong: %d %d %d %d", p.Len(), p.At(0), p.At(1), p.At(101))
	}
	for _, bad := range []string{"", "0", "65536", "99999", "80,", "a", "90-80", "-5", "1-", "8 0"} {
		if _, err := ParsePorts(bad); err == nil {
			t.Errorf("ParsePorts(%q) succeeded", bad)
		}
	}
}

func TestAdd(t *testing.T) {
	for _, tc := range []struct {
		ports  string
		tokens []string
		want   []string
	}{
		{"", []string{"198.18.0.1:80"}, []string{"198.18.0.1:80"}},
		{"", []string{"[2001:db8::1]:443"}, []string{"[2001:db8::1]:443"}},
		{"", []string{"db.example:5432"}, []string{"db.example:5432"}},
		{"", []string{"v6.example:22"}, []string{"v6.example:22"}},
		{"22,80", []string{"198.18.0.1"}, []string{"198.18.0.1:22", "198.18.0.1:80"}},
		{"80", []string{"198.18.0.0/30"}, []string{"198.18.0.0:80", "198.18.0.1:80", "198.18.0.2:80", "198.18.0.3:80"}},
		{"80", []string{"198.18.0.9/31"}, []string{"198.18.0.8:80", "198.18.0.9:80"}},
		{"80", []string{"198.18.0.254-198.18.1.1"}, []string{"198.18.0.254:80", "198.18.0.255:80", "198.18.1.0:80", "198.18.1.1:80"}},
		{"80", []string{"2001:db8::/127"}, []string{"[2001:db8::]:80", "[2001:db8::1]:80"}},
		{"80", []string{"2001:db8::ffff-2001:db8::1:0"}, []string{"[2001:db8::ffff]:80", "[2001:db8::1:0]:80"}},
		{"80", []string{"2001:db8::7"}, []string{"[2001:db8::7]:80"}},
		{"", []string{"198.18.0.0/31:443"}, []string{"198.18.0.0:443", "198.18.0.1:443"}},
		{"", []string{"[2001:db8::/127]:443"}, []string{"[2001:db8::]:443", "[2001:db8::1]:443"}},
		{"7", []string{"db.example", "198.18.0.1:8"}, []string{"db.example:7", "198.18.0.1:8"}},
		{"7,8", []string{"198.18.0.5:6", "db.example"}, []string{"198.18.0.5:6", "db.example:7", "db.example:8"}},
	} {
		s, err := build(t, tc.ports, tc.tokens...)
		if err != nil {
			t.Errorf("%v -p %q: %v", tc.tokens, tc.ports, err)
			continue
		}
		if got := all(s); !slices.Equal(got, tc.want) {
			t.Errorf("%v -p %q = %v, want %v", tc.tokens, tc.ports, got, tc.want)
		}
	}
}

// TestBadTargets checks that each bad input is refused with an error that
// names the offending token.
func TestBadTargets(t *testing.T) {
	for _, tc := range []struct{ ports, token, reason string }{
		{"", "300.1.1.1:80", "not a valid IPv4 address"},
		{"", "host:99999", "out of range"},
		{"80", "198.18.0.0/33", "not a valid CIDR prefix"},
		{"80", "nonsense::", "not a valid IPv6 address"},
		{"", "198.18.0.1", "no port"},
		{"", "198.18.0.1:", "missing port"},
		{"", ":80", "missing host"},
		{"", "[2001:db8::1]x", "after ']'"},
		{"", "[2001:db8::1", "missing ']'"},
		{"80", "198.18.0.5-198.18.0.1", "runs backwards"},
		{"80", "198.18.0.1-2001:db8::1", "mixes IPv4 and IPv6"},
		{"80", "198.18.0.1-nonsense", "range end"},
		{"80", "bad_host!", "not an IP address"},
		{"80", "fe80::1%eth0", "IPv6"},
		{"", "missing.example:80", "cannot resolve"},
		{"", "none.example:80", "no addresses"},
		{"80", "2001:db8::/64", "2^64"},
		{"", "0.0.0.0:80", "unspecified"},
		{"", "[::]:80", "unspecified"},
		{"", "224.0.0.1:80", "multicast"},
		{"", "[ff02::1]:80", "multicast"},
		{"", "255.255.255.255:80", "broadcast"},
	} {
		_, err := build(t, tc.ports, tc.token)
		var te *Error
		if !errors.As(err, &te) {
			t.Errorf("%q: err = %v, want *Error", tc.token, err)
			continue
		}
		if te.Token != tc.token || !strings.Contains(err.Error(), tc.token) || !strings.Contains(err.Error(), tc.reason) {
			t.Errorf("%q: error %q does not name the token and %q", tc.token, err, tc.reason)
		}
	}
}

func TestAddFile(t *testing.T) {
	b := &Builder{Resolver: testResolver, Ports: SinglePort(80)}
	in := "# targets\n198.18.0.1:22, 198.18.0.2\n\n  [2001:db8::1]:443 # web\r\n"
	if err := b.AddFile(context.Background(), strings.NewReader(in), "list.txt"); err != nil {
		t.Fatal(err)
	}
	s, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"198.18.0.1:22", "198.18.0.2:80", "[2001:db8::1]:443"}
	if got := all(s); !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}

	for _, in := range []string{"", "\n# only a comment\n  \n"} {
		err := (&Builder{}).AddFile(context.Background(), strings.NewReader(in), "empty.txt")
		if err == nil || !strings.Contains(err.Error(), "empty.txt") || !strings.Contains(err.Error(), "no targets") {
			t.Errorf("empty file %q: err = %v", in, err)
		}
	}
	err = (&Builder{}).AddFile(context.Background(), strings.NewReader("198.18.0.1:80\n300.1.1.1:80\n"), "bad.txt")
	if err == nil || !strings.Contains(err.Error(), "bad.txt:2") || !strings.Contains(err.Error(), "300.1.1.1:80") {
		t.Errorf("bad line: err = %v", err)
	}
}

func TestExclude(t *testing.T) {
	b := &Builder{Ports: SinglePort(80)}
	for _, tok := range []string{"198.18.0.0/28", "2001:db8::/126"} {
		if err := b.Add(context.Background(), tok); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Exclude("198.18.0.0, 198.18.0.4-198.18.0.13,198.18.0.15"); err != nil {
		t.Fatal(err)
	}
	if err := b.ExcludeFile(strings.NewReader("2001:db8::1/128\n2001:db8::2 # x\n"), "ex.txt"); err != nil {
		t.Fatal(err)
	}
	s, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"198.18.0.1:80", "198.18.0.2:80", "198.18.0.3:80", "198.18.0.14:80", "[2001:db8::]:80", "[2001:db8::3]:80"}
	if got := all(s); !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	for _, bad := range []string{"198.18.0.0/33", "db.example", "300.1.1.1"} {
		if err := (&Builder{}).Exclude(bad); err == nil || !strings.Contains(err.Error(), bad) {
			t.Errorf("Exclude(%q): err = %v", bad, err)
		}
	}
	b = &Builder{}
	b.Add(context.Background(), "198.18.0.1:80")
	b.Exclude("198.18.0.0/24")
	if _, err := b.Build(); err == nil || !strings.Contains(err.Error(), "exclusions") {
		t.Errorf("all excluded: err = %v", err)
	}
	if _, err := (&Builder{}).Build(); err == nil {
		t.Error("empty builder built a set")
	}
}

func TestTooMany(t *testing.T) {
	p, _ := ParsePorts("1-65535")
	b := &Builder{Ports: p}
	b.Add(context.Background(), "2001:db8::/72") // 2^56 addresses
	if _, err := b.Build(); err == nil || !strings.Contains(err.Error(), "too many") {
		t.Errorf("2^56 x 65535: err = %v", err)
	}
	b = &Builder{Ports: p}
	b.Add(context.Background(), "0.0.0.0/0")
	s, err := b.Build()
	// Less 0.0.0.0, 224.0.0.0/4 and 255.255.255.255.
	if err != nil || s.Len() != (1<<32-1-1<<28-1)*65535 {
		t.Fatalf("whole IPv4 space: %v, %v", s, err)
	}
	if first, last := s.At(0), s.At(s.Len()-1); first.String() != "0.0.0.1:1" || last.String() != "255.255.255.254:65535" {
		t.Errorf("first %v, last %v", first, last)
	}
}

// TestPermutationVisitsAllOnce checks bijectivity for sizes that are not
// powers of two (and some that are), with a negative control: the order is
// not the identity and depends on the seed.
func TestPermutationVisitsAllOnce(t *testing.T) {
	for _, n := range []uint64{1, 2, 3, 5, 7, 10, 100, 255, 256, 257, 1000, 1023, 1025, 4097, 65537} {
		for _, seed := range []uint64{0, 1, 0xdeadbeef} {
			p := NewPermutation(n, seed)
			seen := make([]bool, n)
			identity := true
			for i := uint64(0); i < n; i++ {
				j := p.At(i)
				if j >= n {
					t.Fatalf("n=%d seed=%d: At(%d)=%d out of range", n, seed, i, j)
				}
				if seen[j] {
					t.Fatalf("n=%d seed=%d: %d visited twice", n, seed, j)
				}
				seen[j] = true
				identity = identity && i == j
			}
			if n >= 10 && identity {
				t.Errorf("n=%d seed=%d: permutation is the identity", n, seed)
			}
		}
		if n >= 10 {
			a, b := NewPermutation(n, 1), NewPermutation(n, 2)
			same := 0
			for i := uint64(0); i < n; i++ {
				if a.At(i) == b.At(i) {
					same++
				}
			}
			if same == int(n) {
				t.Errorf("n=%d: seeds 1 and 2 give the same order", n)
			}
		}
	}
}

func TestPermutationHuge(t *testing.T) {
	for _, n := range []uint64{1<<63 + 12345, ^uint64(0)} {
		p := NewPermutation(n, 7)
		seen := map[uint64]bool{}
		for i := uint64(0); i < 1000; i++ {
			j := p.At(n - 1 - i)
			if j >= n || seen[j] {
				t.Fatalf("n=%d: At(%d) = %d (repeat=%v)", n, n-1-i, j, seen[j])
			}
			seen[j] = true
		}
	}
}

func TestShardsCoverOnce(t *testing.T) {
	s, err := build(t, "22,80,443", "198.18.0.0/26", "2001:db8::10-2001:db8::1a", "v6.example")
	if err != nil {
		t.Fatal(err)
	}
	total := s.Len() // 64*3 + 11*3 + 3 = 228
	if total != 228 {
		t.Fatalf("Len = %d, want 228", total)
	}
	for _, n := range []uint64{1, 2, 3, 7, 228, 300} {
		seen := map[netip.AddrPort]uint64{}
		for i := uint64(1); i <= n; i++ {
			sh := Shard{i, n}
			got := uint64(0)
			for ap := range s.Order(42, sh) {
				if prev, dup := seen[ap]; dup {
					t.Fatalf("%d shards: %v in shard %d and %d", n, ap, prev, i)
				}
				seen[ap] = i
				got++
			}
			if got != s.ShardLen(sh) {
				t.Errorf("shard %v: %d targets, ShardLen says %d", sh, got, s.ShardLen(sh))
			}
		}
		if uint64(len(seen)) != total {
			t.Errorf("%d shards cover %d of %d targets", n, len(seen), total)
		}
		for i := uint64(0); i < total; i++ {
			if _, ok := seen[s.At(i)]; !ok {
				t.Fatalf("%d shards miss %v", n, s.At(i))
			}
		}
	}
	// Negative control: different seeds split the set differently.
	a := slices.Collect(s.Order(1, Shard{1, 2}))
	b := slices.Collect(s.Order(2, Shard{1, 2}))
	if slices.Equal(a, b) {
		t.Error("shard 1/2 is the same for seeds 1 and 2")
	}
	// Stopping early works.
	for range s.Order(1, Shard{}) {
		break
	}
}

func TestParseShard(t *testing.T) {
	if sh, err := ParseShard("2/3"); err != nil || sh != (Shard{2, 3}) || sh.String() != "2/3" {
		t.Errorf("ParseShard(2/3) = %v, %v", sh, err)
	}
	for _, bad := range []string{"4/3", "0/3", "1/0", "1", "a/b", "-1/3", "1/3/4", ""} {
		if _, err := ParseShard(bad); err == nil || !strings.Contains(err.Error(), fmt.Sprintf("%q", bad)) {
			t.Errorf("ParseShard(%q): err = %v", bad, err)
		}
	}
}

func TestOrderAllocs(t *testing.T) {
	s, _ := build(t, "1-1000", "198.18.0.0/20")
	perm := NewPermutation(s.Len(), 3)
	i := uint64(0)
	if n := testing.AllocsPerRun(1000, func() { _ = s.At(perm.At(i)); i++ }); n != 0 {
		t.Errorf("At allocates %v times", n)
	}
}

func BenchmarkPermutationAt(b *testing.B) {
	p := NewPermutation(1<<32*1000+7, 1)
	var sink uint64
	for i := range uint64(b.N) {
		sink += p.At(i)
	}
	_ = sink
}

func BenchmarkSetOrder(b *testing.B) {
	pb := &Builder{Ports: SinglePort(80)}
	pb.Add(context.Background(), "10.0.0.0/8")
	s, _ := pb.Build()
	b.ResetTimer()
	n := 0
	for range s.Order(1, Shard{}) {
		if n++; n >= b.N {
			break
		}
	}
}

func FuzzAdd(f *testing.F) {
	for _, s := range []string{"198.18.0.1:80", "[2001:db8::1]:443", "198.18.0.0/24", "1.2.3.4-1.2.3.9", "host:99999", "nonsense::", "[::]:1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, tok string) {
		b := &Builder{Resolver: fakeResolver{}, Ports: SinglePort(80)}
		if err := b.Add(context.Background(), tok); err != nil {
			if !strings.Contains(err.Error(), fmt.Sprintf("%q", tok)) {
				t.Fatalf("error %q does not name %q", err, tok)
			}
			return
		}
		s, err := b.Build()
		if err != nil {
			return
		}
		_ = s.At(s.Len() - 1)
	})
}

func TestParseEndpoint(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Endpoint
	}{
		{"198.18.0.1:80", Endpoint{Addr: netip.MustParseAddr("198.18.0.1"), Port: 80}},
		{"[2001:db8::1]:443", Endpoint{Addr: netip.MustParseAddr("2001:db8::1"), Port: 443}},
		{"db.example:5432", Endpoint{Host: "db.example", Port: 5432}},
		{"198.18.0.1/32:80", Endpoint{Addr: netip.MustParseAddr("198.18.0.1"), Port: 80}},
	} {
		if got, err := ParseEndpoint(tc.in); err != nil || got != tc.want {
			t.Errorf("ParseEndpoint(%q) = %+v, %v", tc.in, got, err)
		}
	}
	for _, bad := range []string{"300.1.1.1:80", "host:99999", "198.18.0.0/24:80", "198.18.0.1", "nonsense::", "", "a b:1", "198.18.0.1-198.18.0.2:80", "0.0.0.0:80", "[ff02::1]:80"} {
		if _, err := ParseEndpoint(bad); err == nil || !strings.Contains(err.Error(), fmt.Sprintf("%q", bad)) {
			t.Errorf("ParseEndpoint(%q): err = %v", bad, err)
		}
	}
}

func TestNeverProbed(t *testing.T) {
	s, err := build(t, "80", "223.255.255.254-224.0.0.1", "ff00::-ff00::1", "::-::1")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"223.255.255.254:80", "223.255.255.255:80", "[::1]:80"}
	if got := all(s); !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

func TestSetPorts(t *testing.T) {
	for _, c := range []struct {
		ports string
		args  []string
		want  string
		every bool
	}{
		{"22,80", []string{"198.18.0.0/30", "198.18.1.1"}, "22,80", true},
		{"22", []string{"198.18.0.1", "198.18.0.2:80"}, "22,80", false}, // negative control: a target of its own port
		{"", []string{"198.18.0.1:443", "198.18.0.2:443"}, "443", true},
	} {
		b := &Builder{}
		if c.ports != "" {
			p, err := ParsePorts(c.ports)
			if err != nil {
				t.Fatal(err)
			}
			b.Ports = p
		}
		for _, a := range c.args {
			if err := b.Add(context.Background(), a); err != nil {
				t.Fatal(err)
			}
		}
		s, err := b.Build()
		if err != nil {
			t.Fatal(err)
		}
		if got, every := s.Ports(); got.String() != c.want || every != c.every {
			t.Errorf("-p %q %v: Ports() = %q, %v; want %q, %v", c.ports, c.args, got, every, c.want, c.every)
		}
	}
}

func TestSetHash(t *testing.T) {
	build := func(ports string, args ...string) string {
		t.Helper()
		p, err := ParsePorts(ports)
		if err != nil {
			t.Fatal(err)
		}
		b := &Builder{Ports: p}
		for _, a := range args {
			if err := b.Add(context.Background(), a); err != nil {
				t.Fatal(err)
			}
		}
		s, err := b.Build()
		if err != nil {
			t.Fatal(err)
		}
		return s.Hash()
	}
	a := build("22,80", "198.18.0.0/30", "[2001:db8::1]:443")
	if b := build("80,22", "[2001:db8::1]:443", "198.18.0.0/30"); a != b || len(a) != 64 {
		t.Errorf("the same set in another order: %s, %s", a, b)
	}
	for _, other := range []string{build("22,81", "198.18.0.0/30", "[2001:db8::1]:443"), build("22,80", "198.18.0.0/29", "[2001:db8::1]:443"), build("22,80", "198.18.0.0/30")} {
		if other == a {
			t.Errorf("another set hashes as %s too", a)
		}
	}
}

func TestResolveFamilyAndAll(t *testing.T) {
	multi := fakeResolver{
		"db.example": {netip.MustParseAddr("2001:db8::5"), netip.MustParseAddr("198.18.0.5"), netip.MustParseAddr("198.18.0.6"),
			netip.MustParseAddr("::ffff:198.18.0.5"), netip.MustParseAddr("2001:db8::7")},
		"v6.example": {netip.MustParseAddr("2001:db8::6")},
	}
	for _, c := range []struct {
		family int
		all    bool
		host   string
		want   string // the endpoints, or the error's text
	}{
		{0, false, "db.example", "198.18.0.5:80"},
		{4, false, "db.example", "198.18.0.5:80"},
		{6, false, "db.example", "[2001:db8::5]:80"},
		{0, true, "db.example", "198.18.0.5:80 198.18.0.6:80 [2001:db8::5]:80 [2001:db8::7]:80"},
		{4, true, "db.example", "198.18.0.5:80 198.18.0.6:80"},
		{6, true, "db.example", "[2001:db8::5]:80 [2001:db8::7]:80"},
		{0, false, "v6.example", "[2001:db8::6]:80"},
		{4, false, "v6.example", "host name v6.example has no IPv4 address (-4)"},
	} {
		b := &Builder{Resolver: multi, Family: c.family, AllAddresses: c.all, Ports: SinglePort(80)}
		var got string
		if err := b.Add(context.Background(), c.host); err != nil {
			got = err.Error()
		} else {
			s, err := b.Build()
			if err != nil {
				t.Fatal(err)
			}
			var eps []string
			for i := range s.Len() {
				ep := s.At(i)
				eps = append(eps, ep.String())
				if s.Name(ep) != c.host+":80" {
					t.Errorf("%v is named %q, want %s:80", ep, s.Name(ep), c.host)
				}
			}
			got = strings.Join(eps, " ")
		}
		if !strings.Contains(got, c.want) || (!strings.Contains(c.want, "no IPv") && got != c.want) {
			t.Errorf("-%d all=%v %s: got %q, want %q", c.family, c.all, c.host, got, c.want)
		}
	}
}
