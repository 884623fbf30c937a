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
             lintian:lintian systemd-nspawn:systemd-container vtysh:frr

.PHONY: all build test test-unit lint fuzz bench bench-quick demo install clean deps soak promtool deb

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
	@command -v promtool >/dev/null 2>&1 || $(MAKE) --no-print-directory promtool

# promtool runs the alert rules' unit tests (configs/prometheus/halo-alerts.test.yml). It
# is taken out of Debian's prometheus package into PROMTOOL_DIR rather than installing the
# package, whose postinst enables and starts a Prometheus server.
PROMTOOL_DIR ?= /usr/local/bin
promtool:
	@echo "extracting promtool from Debian's prometheus package into $(PROMTOOL_DIR)"; \
	d=$$(mktemp -d) && chmod 755 $$d && cd $$d && \
	{ apt-get download -q prometheus >/dev/null 2>&1 || \
	  { apt-get update -q >/dev/null && apt-get download -q prometheus >/dev/null; }; } && \
	dpkg-deb --fsys-tarfile prometheus_*.deb | tar -xO ./usr/bin/promtool >$(PROMTOOL_DIR)/.promtool.new && \
	chmod 0755 $(PROMTOOL_DIR)/.promtool.new && mv $(PROMTOOL_DIR)/.promtool.new $(PROMTOOL_DIR)/promtool; \
	rc=$$?; rm -rf $$d; exit $$rc

# All three tiers: unit (race detector on), real HAProxy on loopback, namespace e2e as root;
# first a one-round benchmark run, so that the benchmark code cannot rot (its figures go
# to .bench/ and are not judged here). The chaos soak (TestSoak) runs once, inside this
# go test, for SOAK_TEST_DURATION, replaying SOAK_TEST_SEED (a sequence of faults that
# passed, so that a red CI is a regression, not a new draw; `make soak` draws new ones).
SOAK_TEST_DURATION ?= 1m
SOAK_TEST_SEED ?= 747602304
test: deps
	@$(MAKE) --no-print-directory bench-quick
	@$(MAKE) --no-print-directory deb
	HALO_DEB=$(CURDIR)/$$(ls -t dist/halo_*.deb | head -1) HALO_BIN=$(CURDIR)/$(BIN)/static HALO_SOAK_DURATION=$(SOAK_TEST_DURATION) SOAK_SEED=$(SOAK_TEST_SEED) $(GO) test -race -count=1 -timeout 45m ./...

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
FUZZ_TARGETS += metrics:FuzzTextRoundTrip

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

# image: halod and haloctl, static (CGO_ENABLED=0), in a container image on an empty base
# with a generated /etc/passwd and /etc/group, built without a container daemon
# (internal/cmd/mkimage, go-containerregistry), written to bin/halo-image.tar as a
# docker-archive: `docker load -i bin/halo-image.tar` or `podman load -i ...`, or
# `skopeo copy docker-archive:bin/halo-image.tar docker://REGISTRY/halo:TAG`.
# IMAGE_FORMAT=oci writes an OCI image layout tar instead (podman load, Docker 25+ load,
# skopeo oci-archive:). Same commit, same digest: file times are the commit's.
.PHONY: image
IMAGE_FORMAT ?= docker
image:
	@mkdir -p $(BIN)/image
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/image/ ./cmd/halod ./cmd/haloctl
	$(GO) run ./internal/cmd/mkimage -halod $(BIN)/image/halod -haloctl $(BIN)/image/haloctl \
	  -version $(VERSION) -revision "$$(git rev-parse HEAD 2>/dev/null)" \
	  -created "$$(git log -1 --format=%ct 2>/dev/null || echo 0)" \
	  -format $(IMAGE_FORMAT) -o $(BIN)/halo-image.tar

# A live two-node cluster in network namespaces, narrated; removes everything it made.
demo: deps build
	$(GO) build -o $(BIN)/ ./internal/cmd/labtool ./internal/cmd/demo
	$(BIN)/demo -bin $(BIN)

# install puts what the package does under PREFIX: the binaries, the man pages, the three systemd units
# (in /etc/systemd/system, pointing at PREFIX), and, only where none exists yet, the same
# /etc/halo/halo.yaml and haproxy.cfg examples (edit the interface and the VIP); it enables
# and starts nothing. The Debian package (make deb) is the better way on Debian.
UNITDIR ?= /etc/systemd/system
install: build
	install -d $(DESTDIR)$(PREFIX)/sbin $(DESTDIR)$(PREFIX)/bin $(DESTDIR)/etc/halo $(DESTDIR)$(UNITDIR)
	install -m 0755 $(BIN)/halod $(DESTDIR)$(PREFIX)/sbin/halod
	install -m 0755 $(BIN)/halo-bgp $(DESTDIR)$(PREFIX)/sbin/halo-bgp
	install -m 0755 $(BIN)/haloctl $(DESTDIR)$(PREFIX)/bin/haloctl
	for u in halod.service halod-external.service halod-cleanup@.service; do \
	  sed -e 's|/usr/sbin/halod|$(PREFIX)/sbin/halod|g' -e 's|/usr/bin/haloctl|$(PREFIX)/bin/haloctl|g' \
	    configs/systemd/$$u > $(DESTDIR)$(UNITDIR)/$$u && chmod 0644 $(DESTDIR)$(UNITDIR)/$$u || exit 1; \
	done
	$(GO) run ./internal/cmd/mkman -bin $(BIN) -src docs/man -out $(BIN)/man -version '$(VERSION)' -date $$(date -u +%Y-%m-%d)
	install -d $(DESTDIR)$(PREFIX)/share/man/man1 $(DESTDIR)$(PREFIX)/share/man/man5 $(DESTDIR)$(PREFIX)/share/man/man8
	install -m 0644 $(BIN)/man/haloctl.1 $(DESTDIR)$(PREFIX)/share/man/man1/
	install -m 0644 $(BIN)/man/halo.yaml.5 $(DESTDIR)$(PREFIX)/share/man/man5/
	install -m 0644 $(BIN)/man/halod.8 $(DESTDIR)$(PREFIX)/share/man/man8/
	[ -e $(DESTDIR)/etc/halo/halo.yaml ] || install -m 0640 configs/debian/halo.yaml $(DESTDIR)/etc/halo/halo.yaml
	[ -e $(DESTDIR)/etc/halo/haproxy.cfg ] || install -m 0644 configs/haproxy.cfg $(DESTDIR)/etc/halo/haproxy.cfg
	@[ -n "$(DESTDIR)" ] || ! [ -d /run/systemd/system ] || systemctl daemon-reload

# deb builds dist/halo_VERSION_amd64.deb (nfpm as a library, internal/cmd/mkdeb): static
# binaries, the systemd units, /etc/halo's conffiles, man pages generated from the binaries'
# flags and configs/README.md (internal/cmd/mkman), docs and examples. The Debian version
# comes from git describe (see internal/cmd/mkdeb/version.go).
DESCRIBE    = $(shell git describe --tags --always --dirty --abbrev=7 2>/dev/null)
COMMIT_TIME = $(or $(SOURCE_DATE_EPOCH),$(shell git log -1 --format=%ct 2>/dev/null))
deb:
	@[ -n "$(DESCRIBE)" ] && [ -n "$(COMMIT_TIME)" ] || { echo "make deb: needs a git checkout (git describe, the commit's time)"; exit 1; }
	@mkdir -p $(BIN)/static dist/man && rm -f dist/halo_*.deb
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/static/ ./cmd/halod ./cmd/haloctl ./cmd/halo-bgp
	$(GO) run ./internal/cmd/mkman -bin $(BIN)/static -src docs/man -out dist/man -version '$(VERSION)' \
	  -date $$(date -u -d @$(COMMIT_TIME) +%Y-%m-%d)
	$(GO) run ./internal/cmd/mkdeb -bin $(BIN)/static -man dist/man -describe '$(DESCRIBE)' \
	  -time $(COMMIT_TIME) -out dist

clean:
	rm -rf $(BIN) .bench dist
	$(GO) clean -testcache
