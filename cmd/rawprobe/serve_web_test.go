package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/rawprobe/rawprobe/internal/cli/engine"
)

func fakeOpener(fake *fakeEngine) func(string, engine.Config) (engine.Engine, string, error) {
	return func(string, engine.Config) (engine.Engine, string, error) { return fake, "", nil }
}

// writeWebConfig writes a self-signed certificate for 127.0.0.1 and an
// exporter-toolkit web config with TLS and user "prom" (password pass)
// into dir; it returns the config's path and a pool trusting the cert.
func writeWebConfig(t *testing.T, dir string) (string, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "rawprobe test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	write := func(name string, b []byte) {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("cert.pem", certPEM)
	write("key.pem", pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}))
	hash, err := bcrypt.GenerateFromPassword([]byte("pass"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf("tls_server_config:\n  cert_file: %s\n  key_file: %s\nbasic_auth_users:\n  prom: %s\n",
		filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem"), hash)
	write("web.yml", []byte(cfg))
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(certPEM)
	return filepath.Join(dir, "web.yml"), pool
}

// TestServeWebConfig: with --web.config.file, plain HTTP gets no answer,
// HTTPS without a password 401, with the wrong one 401, with the right
// one 200.
func TestServeWebConfig(t *testing.T) {
	path, pool := writeWebConfig(t, t.TempDir())
	base, stop, stderr := startServe(t, []string{"--web.listen-address", "127.0.0.1:0", "--web.config.file", path}, fakeOpener(&fakeEngine{}))
	defer stop()
	url := strings.Replace(base, "http://", "https://", 1) + "/probe?target=198.18.0.1:80"
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}, Timeout: 10 * time.Second}
	for _, tc := range []struct {
		user, pass string
		code       int
	}{{"", "", 401}, {"prom", "wrong", 401}, {"prom", "pass", 200}} {
		req, _ := http.NewRequest("GET", url, nil)
		if tc.user != "" {
			req.SetBasicAuth(tc.user, tc.pass)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("%s/%s: %v (stderr %s)", tc.user, tc.pass, err, stderr)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.code || (tc.code == 200 && !strings.Contains(string(body), "probe_success 1")) {
			t.Errorf("user %q password %q: HTTP %d %q, want %d", tc.user, tc.pass, resp.StatusCode, body, tc.code)
		}
	}
	// Negative control: plain HTTP is not served.
	if resp, err := (&http.Client{Timeout: 5 * time.Second}).Get(base + "/metrics"); err == nil {
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == 200 {
			t.Errorf("plain HTTP answered 200: %q", body)
		}
	}
}

// TestServeFlags: --version prints the build and opens nothing; bad
// --allow, --deny, --log.level, --max-concurrent and --web.config.file
// are bad input naming the flag, with nothing opened.
func TestServeFlags(t *testing.T) {
	c := runCLI(t, []string{"serve", "--version"})
	if c.code != 0 || !strings.HasPrefix(c.stdout, "rawprobe ") || len(c.opened) != 0 {
		t.Errorf("--version: exit %d stdout %q opened %v", c.code, c.stdout, c.opened)
	}
	bad := filepath.Join(t.TempDir(), "web.yml")
	if err := os.WriteFile(bad, []byte("basic_auth_users: [\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--allow", "10.0.0.0/33"}, "--allow"},
		{[]string{"--deny", "nonsense"}, "--deny"},
		{[]string{"--log.level", "loud"}, "--log.level"},
		{[]string{"--max-concurrent", "-1"}, "--max-concurrent"},
		{[]string{"--web.config.file", bad}, "--web.config.file"},
		{[]string{"--web.config.file", bad + ".missing"}, "--web.config.file"},
	} {
		c := runCLI(t, append([]string{"serve"}, tc.args...))
		if c.code != 2 || !strings.Contains(c.stderr, tc.want) || len(c.opened) != 0 {
			t.Errorf("%q: exit %d stderr %q opened %v; want 2 naming %s", tc.args, c.code, c.stderr, c.opened, tc.want)
		}
	}
}
