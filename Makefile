# rawprobe — build, test and benchmark targets.
# `make test` installs what the privileged tests need when it runs as root
# (nftables for nft; tcpdump; nmap, libxml2-utils and ndiff for the
# nmap-format output tests; prometheus and its promtool for the exporter's
# end-to-end test; hping3 for the RST flood test); otherwise it says what
# to install.

GO        ?= go
PKGS      ?= ./...
TESTFLAGS ?=
# FUZZTIME is a count, not a duration: with a duration, Go 1.26's fuzz
# coordinator can fail a target with "context deadline exceeded" at the
# deadline on a loaded machine (golang/go#75804, fixed in Go 1.27).
FUZZTIME  ?= 100000x
BENCHTIME ?= 1s
GOTESTSUM_VERSION ?= v1.13.0
GOTESTSUM := $(shell $(GO) env GOPATH)/bin/gotestsum
GOTEST = $(shell [ -x $(GOTESTSUM) ] || $(GO) install gotest.tools/gotestsum@$(GOTESTSUM_VERSION) >/dev/null 2>&1; \
	[ -x $(GOTESTSUM) ] && echo "$(GOTESTSUM) --format testname --" || echo "$(GO) test")
BENCHCOUNT ?= 5

.PHONY: all build test deps vet fuzz crossbuild bench lint pcaps demo clean

all: build

build:
	$(GO) build $(PKGS)
	$(GO) build -o bin/rawprobe ./cmd/rawprobe

# deps installs the tools the privileged tests call (nft, ip, tcpdump for
# the captures `rawprobe verify` reads, prometheus and promtool, setcap and
# setpriv for the unprivileged user with a file capability, hping3 for the
# RST flood) and those the nmap-format output tests check against (nmap for
# its DTD, xmllint, ndiff) when missing.
deps:
	@for pair in nft:nftables ip:iproute2 nmap:nmap xmllint:libxml2-utils ndiff:ndiff tcpdump:tcpdump prometheus:prometheus promtool:prometheus setcap:libcap2-bin setpriv:util-linux hping3:hping3; do \
	  cmd=$${pair%%:*}; pkg=$${pair#*:}; \
	  if ! command -v $$cmd >/dev/null 2>&1; then \
	    if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	      echo "installing $$pkg ($$cmd is needed by the tests)"; \
	      (apt-get install -y -q $$pkg >/dev/null 2>&1 || \
	       (apt-get update -q >/dev/null && apt-get install -y -q $$pkg >/dev/null)) || \
	       { echo "could not install $$pkg"; exit 1; }; \
	    else \
	      echo "$$cmd not found: install $$pkg (apt-get install $$pkg) to run the tests that need it"; \
	    fi; \
	  fi; \
	done

vet:
	$(GO) vet $(PKGS)

# test: lint (gofmt, go mod tidy, vet, staticcheck), the whole suite under the race detector (privileged tests
# included when run as root), the load tests, each fuzz target briefly, and
# the builds for other operating systems.
# Load tests (TestLoad*) skip under -short and run in the second pass
# without the race detector, which would slow them tenfold; allocation
# tests (TestAllocs*) that the race detector's own allocations would
# distort skip under it and run there too. The second pass runs one package
# at a time (-p 1): their zero-ACK assertions are about closing sockets
# promptly, and another package's flood on the same two cores is not the
# load they measure.
# gotestsum prints one line per test (so the log shows the privileged tests
# running), the output of each failure, and a closing count; when it cannot
# be installed, plain `go test` runs instead.
test: deps lint
	$(GOTEST) -race -short -count=1 -timeout 20m $(TESTFLAGS) $(PKGS)
	$(GOTEST) -p 1 -run '^Test(Load|Allocs)' -count=1 -timeout 20m $(TESTFLAGS) $(PKGS)
	$(MAKE) --no-print-directory fuzz
	$(MAKE) --no-print-directory crossbuild

fuzz:
	@for pkg in $$($(GO) list $(PKGS)); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg 2>/dev/null | grep '^Fuzz'); do \
	    echo "fuzz $$pkg $$f ($(FUZZTIME))"; \
	    $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	  done; \
	done

crossbuild:
	GOOS=darwin GOARCH=arm64 $(GO) build $(PKGS)
	GOOS=windows GOARCH=amd64 $(GO) build $(PKGS)

# bench: the packages' Go benchmarks, then (as root) the side-by-side
# comparison with nmap, masscan, zmap and hping3 in a private test network, which
# rewrites BENCHMARKS.md. BENCHCMPFLAGS passes flags to it, e.g.
# BENCHCMPFLAGS='-targets 65000 -runs 5'.
BENCHCMPFLAGS ?=
bench: deps
	$(GO) test -run '^$$' -bench . -benchmem -benchtime $(BENCHTIME) -count $(BENCHCOUNT) $(PKGS)
	@if [ "$$(id -u)" = 0 ]; then \
	  $(GO) run ./internal/devtools/benchcmp -out BENCHMARKS.md $(BENCHCMPFLAGS) && \
	  { printf '\n## Send path and memory (`benchcmp -send-only -big -runs 3`)\n\n'; \
	    $(GO) run ./internal/devtools/benchcmp -send-only -big -runs 3; } >> BENCHMARKS.md; \
	else \
	  echo "benchcmp (BENCHMARKS.md) needs root: network namespaces, raw sockets, apt-get; skipped"; \
	fi

# lint: formatting, a tidy go.mod, vet and staticcheck at a pinned
# version (so a new release cannot fail a build nobody changed). It fails
# when staticcheck cannot be installed: a lint that silently skips proves
# nothing.
STATICCHECK_VERSION ?= v0.8.2
STATICCHECK := $(shell $(GO) env GOPATH)/bin/staticcheck
lint:
	@out=$$(gofmt -l . | grep -v '^vendor/'); if [ -n "$$out" ]; then echo "gofmt -l lists:"; echo "$$out"; exit 1; fi
	@$(GO) mod tidy -diff || { echo "go.mod/go.sum are not tidy: run go mod tidy"; exit 1; }
	$(GO) vet $(PKGS)
	@if ! "$(STATICCHECK)" -version 2>/dev/null | grep -q '($(STATICCHECK_VERSION:v%=%))'; then \
	  $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) || { echo "could not install staticcheck $(STATICCHECK_VERSION)"; exit 1; }; \
	fi
	"$(STATICCHECK)" $(PKGS)

pcaps: deps
	$(GO) run ./internal/devtools/mkpcaps -out testdata/pcaps

demo: deps
	$(GO) run ./cmd/rawprobe demo

clean:
	rm -rf bin
