package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rawprobe/rawprobe/internal/cli/engine"
)

// lockedBuffer is a bytes.Buffer safe for the server goroutine and the test.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startServe runs "rawprobe serve" with the given engine opener and returns
// the base URL, a stop function that returns the exit status, and stderr.
func startServe(t *testing.T, args []string, open func(string, engine.Config) (engine.Engine, string, error)) (string, func() int, *lockedBuffer) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	addr := make(chan string, 1)
	var stderr lockedBuffer
	e := env{
		stdout: io.Discard, stderr: &stderr, openEngine: open,
		resolver: fakeResolver{}, now: time.Now,
		listen: func(network, a string) (net.Listener, error) {
			ln, err := net.Listen(network, a)
			if err == nil {
				addr <- ln.Addr().String()
			}
			return ln, err
		},
	}
	code := make(chan int, 1)
	go func() { code <- run(ctx, append([]string{"serve"}, args...), e) }()
	select {
	case a := <-addr:
		stop := func() int { cancel(); return <-code }
		t.Cleanup(func() { cancel() })
		return "http://" + a, stop, &stderr
	case c := <-code:
		cancel()
		t.Fatalf("serve exited %d: %s", c, stderr.String())
	case <-time.After(10 * time.Second):
		cancel()
		t.Fatal("serve did not start listening")
	}
	return "", nil, nil
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func TestServe(t *testing.T) {
	fake := &fakeEngine{}
	var opened []string
	var mu sync.Mutex
	base, stop, stderr := startServe(t, []string{"--listen", "127.0.0.1:0"}, func(name string, _ engine.Config) (engine.Engine, string, error) {
		mu.Lock()
		opened = append(opened, name)
		mu.Unlock()
		return fake, "", nil
	})
	for _, tc := range []struct {
		path string
		code int
		want string
	}{
		{"/probe?target=198.18.0.1:80", 200, "probe_success 1"},
		{"/probe?target=198.18.0.2:80&module=connect", 200, "probe_success 0"},
		{"/probe?target=198.18.0.2:80&module=syn", 200, "probe_success 0"},
		{"/probe?target=300.1.1.1:80", 400, "300.1.1.1"},
		{"/metrics", 200, "rawprobe_engine_syn_sent_total"},
	} {
		code, body := get(t, base+tc.path)
		if code != tc.code || !strings.Contains(body, tc.want) {
			t.Errorf("%s: HTTP %d %q, want %d with %q", tc.path, code, body, tc.code, tc.want)
		}
	}
	if c := stop(); c != 0 {
		t.Errorf("serve exited %d after cancel: %s", c, stderr)
	}
	if strings.Join(opened, ",") != "raw,connect" || !strings.Contains(stderr.String(), "serving on http://127.0.0.1:") {
		t.Errorf("opened %v, stderr %q", opened, stderr)
	}
}

func TestServeWithoutRaw(t *testing.T) {
	fake := &fakeEngine{}
	noRaw := func(name string, _ engine.Config) (engine.Engine, string, error) {
		if name == engine.Raw {
			return nil, "", fmt.Errorf("need CAP_NET_RAW: %w", os.ErrPermission)
		}
		return fake, "", nil
	}
	base, stop, stderr := startServe(t, []string{"--listen", "127.0.0.1:0"}, noRaw)
	if code, body := get(t, base+"/probe?target=198.18.0.1:80"); code != 200 || !strings.Contains(body, "probe_success 1") {
		t.Errorf("default module without raw: HTTP %d %q", code, body)
	}
	if code, body := get(t, base+"/probe?target=198.18.0.1:80&module=syn"); code != 400 || !strings.Contains(body, "syn") {
		t.Errorf("module syn without raw: HTTP %d %q", code, body)
	}
	stop()
	if !strings.Contains(stderr.String(), "module syn is not available") {
		t.Errorf("stderr %q does not say why syn is missing", stderr)
	}

	// --engine raw insists: exit 3.
	c := runCLI(t, []string{"serve", "--engine", "raw", "--listen", "127.0.0.1:0"}, withOpenError(fmt.Errorf("need CAP_NET_RAW: %w", os.ErrPermission)))
	if c.code != 3 || !strings.Contains(c.stderr, "CAP_NET_RAW") {
		t.Errorf("serve --engine raw without privilege: exit %d %q", c.code, c.stderr)
	}
	for _, args := range [][]string{{"serve", "--bogus"}, {"serve", "extra"}, {"serve", "--timeout", "-1s"}} {
		if c := runCLI(t, args); c.code != 2 || len(c.opened) != 0 {
			t.Errorf("%q: exit %d, opened %v", args, c.code, c.opened)
		}
	}
}
