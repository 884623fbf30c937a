# halo — see README.md. Every target that needs a Debian package installs it when missing.
GO      ?= go
PREFIX  ?= /usr/local
VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION)
BIN     := bin

# command:package pairs the tests, the demo and the benchmarks need. gcc is for the race
# detector (cgo); tshark decodes VRRP adverts in the interop tests; frr (vtysh, bgpd,
# bfdd, zebra) is the upstream router of the BGP lab, run by the tests, never as a service.
TEST_DEPS := haproxy:haproxy keepalived:keepalived ip:iproute2 bridge:iproute2 gcc:gcc \
             tshark:tshark ping:iputils-ping curl:curl ps:procps unshare:util-linux \
             vtysh:frr

.PHONY: all build test test-unit lint fuzz bench bench-quick demo install clean deps soak

all: build

build:
	@mkdir -p $(BIN)
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/ ./cmd/halod ./cmd/haloctl ./cmd/halo-bgp

# deps installs, through apt-get, the packages whose commands are missing.
deps:
	@missing=""; for pair in $(TEST_DEPS); do \
	  cmd=$${pair%%:*}; pkg=$${pair##*:}; \
	  command -v $$cmd >/dev/null 2>&1 || [ -x /usr/sbin/$$cmd ] || missing="$$missing $$pkg"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends $$missing libc6-dev >/dev/null || exit 1; \
	fi

# All three tiers: unit (race detector on), real HAProxy on loopback, namespace e2e as root;
# first a one-round benchmark run, so that the benchmark code cannot rot (its figures go
# to .bench/ and are not judged here). The chaos soak (TestSoak) runs once, inside this
# go test, for SOAK_TEST_DURATION, replaying SOAK_TEST_SEED (a sequence of faults that
# passed, so that a red CI is a regression, not a new draw; `make soak` draws new ones).
SOAK_TEST_DURATION ?= 2m
SOAK_TEST_SEED ?= 747602304
test: deps
	@$(MAKE) --no-print-directory bench-quick
	HALO_SOAK_DURATION=$(SOAK_TEST_DURATION) SOAK_SEED=$(SOAK_TEST_SEED) $(GO) test -race -count=1 -timeout 45m ./...

# soak (root): the chaos soak alone for DURATION: random faults of the fault matrix, one at
# a time, into a three-node lab while the client polls the VIP; prints the faults, the
# outages and every invariant broken, and fails when one broke. SOAK_SEED=N replays a run
# (its seed is printed). SOAK_TIMEOUT must exceed DURATION by a few minutes (lab setup,
# the last fault's settling); the test refuses to start otherwise.
DURATION     ?= 10m
SOAK_TIMEOUT ?= 3h
soak: deps
	HALO_SOAK_DURATION=$(DURATION) SOAK_SEED=$(SOAK_SEED) $(GO) test -count=1 -run '^TestSoak$$' -v \
	  -timeout $(SOAK_TIMEOUT) ./internal/cluster/

# Tier 1 only: no root, no haproxy needed (gcc is, for the race detector).
test-unit:
	$(GO) test -race -count=1 -short ./...

lint:
	@out=$$(gofmt -l .); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) tool staticcheck ./...
	$(GO) mod tidy -diff

# fuzz runs every fuzz target for FUZZTIME, one after another, printing each one's last
# "elapsed: ..., execs: N" line and a summary; it fails when any target finds a crasher
# (go writes it to the package's testdata/fuzz/<FuzzName>/: keep it as a regression
# seed once fixed). The seed corpora under testdata/fuzz also run in every `go test`.
FUZZTIME ?= 1m
FUZZ_TARGETS := vrrp:FuzzUnmarshal vrrp:FuzzAccept \
	supervisor/keepalived:FuzzParse supervisor/keepalived:FuzzParseInclude \
	supervisor:FuzzParseConfig supervisor:FuzzControlRequest \
	haproxy:FuzzParseInfo haproxy:FuzzParseStat haproxy:FuzzJudge haproxy:FuzzParseProc \
	haproxy:FuzzParseReloadAnswer haproxy:FuzzReadConfigFiles

fuzz:
	@log=$$(mktemp -d); failed=""; summary=""; \
	for pair in $(FUZZ_TARGETS); do \
	  pkg=$${pair%%:*}; name=$${pair##*:}; \
	  echo "== $$name (./$$pkg, $(FUZZTIME))"; \
	  if $(GO) test -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) ./$$pkg/ >$$log/$$name 2>&1; then res=ok; \
	  else res=FAILED; failed="$$failed $$name"; grep -v '^fuzz: elapsed' $$log/$$name | tail -20; fi; \
	  last=$$(grep 'elapsed: .*execs: ' $$log/$$name | tail -1 | sed 's/^fuzz: //'); \
	  echo "   $$last"; \
	  execs=$$(echo "$$last" | sed -n 's/.*execs: \([0-9]*\).*/\1/p'); \
	  summary="$$summary\n  $$(printf '%-24s %-22s %12s  %s' $$name ./$$pkg "$${execs:-?}" $$res)"; \
	done; \
	printf "fuzz summary (FUZZTIME=$(FUZZTIME)):\n  %-24s %-22s %12s  %s$$summary\n" target package execs result; \
	rm -rf $$log; \
	if [ -n "$$failed" ]; then echo "crashers found in:$$failed (see testdata/fuzz/<FuzzName>/)"; exit 1; fi

# bench (root): halo against the classic keepalived + HAProxy pair in namespace labs, every
# fault 5 times, 100 reloads, 60 s idle windows, the Go micro-benchmarks; writes
# docs/BENCHMARKS.md (about half an hour). bench-quick: one round of each, under five
# minutes, written to .bench/BENCHMARKS.md so that the published figures stay (CI runs it
# so that the benchmark code cannot rot); BENCH_OUT=FILE overrides either path. Only the idle
# footprints (halod and keepalived, 1 and 50 instances), 60 s windows, about 5 minutes:
# make build && go build -o bin/ ./internal/cmd/labtool ./internal/cmd/bench &&
# bin/bench -quick -only footprint -idle 60s -bin bin -out /tmp/footprint.md
bench: deps
	@$(MAKE) --no-print-directory deps TEST_DEPS="killall:psmisc nsenter:util-linux"
	@mkdir -p $(BIN)
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/ ./cmd/halod ./cmd/haloctl ./cmd/halo-bgp ./internal/cmd/labtool ./internal/cmd/bench
	$(BIN)/bench -bin $(BIN) -out $(or $(BENCH_OUT),docs/BENCHMARKS.md)

bench-quick: deps
	@$(MAKE) --no-print-directory deps TEST_DEPS="killall:psmisc nsenter:util-linux"
	@mkdir -p $(BIN)
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/ ./cmd/halod ./cmd/haloctl ./cmd/halo-bgp ./internal/cmd/labtool ./internal/cmd/bench
	$(BIN)/bench -quick -bin $(BIN) -out $(or $(BENCH_OUT),.bench/BENCHMARKS.md)

# A live two-node cluster in network namespaces, narrated; removes everything it made.
demo: deps build
	$(GO) build -o $(BIN)/ ./internal/cmd/labtool ./internal/cmd/demo
	$(BIN)/demo -bin $(BIN)

install: build
	install -d $(DESTDIR)$(PREFIX)/sbin $(DESTDIR)$(PREFIX)/bin $(DESTDIR)/etc/halo
	install -m 0755 $(BIN)/halod $(DESTDIR)$(PREFIX)/sbin/halod
	install -m 0755 $(BIN)/halo-bgp $(DESTDIR)$(PREFIX)/sbin/halo-bgp
	install -m 0755 $(BIN)/haloctl $(DESTDIR)$(PREFIX)/bin/haloctl
	[ -e $(DESTDIR)/etc/halo/halo.yaml ] || install -m 0644 configs/two-node/lb1.yaml $(DESTDIR)/etc/halo/halo.yaml

clean:
	rm -rf $(BIN) .bench
	$(GO) clean -testcache
