# Agent5 appliance. `make run` and `make test` work on a fresh Debian 12 box with Rust
# installed: they install the missing system packages first (scripts/install-deps.sh).

SHELL := /bin/bash
CARGO ?= cargo
# Build output outside the clone, so fresh clones (CI, ../ci-check) reuse the build.
export CARGO_TARGET_DIR ?= $(HOME)/.cache/agent5-target
DATA_DIR ?= ./data
CONFIG ?= conf/agent5.toml
RELEASE_BIN := $(CARGO_TARGET_DIR)/release/agent5
DEBUG_BIN := $(CARGO_TARGET_DIR)/debug/agent5

.PHONY: help deps build run demo bench-console test test-console test-timeshift fuzz soak lint check-config bench-edge bench-upgrade bench-store bench-import bench-webhooks bench-calls bench-import-beside bench-listen bench-dialer bench-cluster install uninstall dist clean

help:
	@echo "make run         build (release) and start agent5 on http://127.0.0.1:3000"
	@echo "make test        fmt check, clippy, config check, every test, the console in Chromium, then test-timeshift"
	@echo "make demo        the appliance with sample prospects and simulated calls (no accounts needed)"
	@echo "make test-console the admin console in headless Chromium (playwright-core, node --test)"
	@echo "make test-timeshift every test again with the clock 4 years ahead and 3 behind"
	@echo "make fuzz        every fuzz target for FUZZ_SECS (600) each, corpora minimised into fuzz/corpus"
	@echo "make soak        200 calls for SOAK_SECS (3600) with listeners, uploads, webhooks; fails on growth"
	@echo "make bench-edge  edge throughput vs nginx (installs nginx, wrk)"
	@echo "make bench-upgrade agent5 upgrade in the middle of a wrk run: errors, hand-over time"
	@echo "make bench-store store upserts and list queries, SQLite (100k, 1M) and SecantusDB"
	@echo "make bench-import CSV import of 100k and 1M rows via the CLI and HTTP"
	@echo "make bench-webhooks signed Telnyx webhooks/s end to end on SQLite"
	@echo "make bench-calls concurrent simulated calls (agent5-load), 50 to 500, each also through agent5-floor"
	@echo "make bench-import-beside 500 calls with a 100k-row upload beside them, background_nice 10 vs 0"
	@echo "make bench-console the console's sizes, first load, Monitor at 200 calls, listen-in gaps"
	@echo "make bench-listen 200 calls without, then with, one /monitor listener each (48, 16 and 8 kHz)"
	@echo "make bench-dialer the dialler over 1M contacts, and 200 calls with and without it beside them"
	@echo "make bench-cluster three appliances: listen-in local vs through another node, fan-out cost at 200 calls"

deps:
	@scripts/install-deps.sh build

build: deps
	$(CARGO) build --release --locked --bin agent5

run: build
	@mkdir -p $(DATA_DIR) && chmod 700 $(DATA_DIR)
	@if [ -z "$$AUTH_TOKEN" ] && [ ! -s $(DATA_DIR)/dev-token ]; then \
	  umask 077; head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > $(DATA_DIR)/dev-token; \
	  echo "Generated a development token (stored in $(DATA_DIR)/dev-token):"; \
	  echo "  $$(cat $(DATA_DIR)/dev-token)"; \
	fi
	@$(RELEASE_BIN) user bootstrap --config $(CONFIG) --data-dir $(DATA_DIR)
	@TOKEN=$${AUTH_TOKEN:-$$(cat $(DATA_DIR)/dev-token)}; \
	echo ""; \
	echo "agent5 starts on http://127.0.0.1:3000 (metrics on http://127.0.0.1:9464/metrics). Try:"; \
	if [ -z "$$AUTH_TOKEN" ]; then echo "  curl -H \"Authorization: Bearer \$$(cat $(DATA_DIR)/dev-token)\" http://127.0.0.1:3000/api/status"; \
	else echo "  curl -H \"Authorization: Bearer \$$AUTH_TOKEN\" http://127.0.0.1:3000/api/status"; fi; \
	echo "  curl http://127.0.0.1:3000/readyz"; \
	echo "People sign in with POST /api/auth/login; the first admin is admin@localhost,"; \
	echo "its password in $(DATA_DIR)/admin-password (docs/accounts.md)."; \
	echo "Stop with Ctrl-C."; echo ""; \
	AUTH_TOKEN=$$TOKEN exec $(RELEASE_BIN) serve --config $(CONFIG) --data-dir $(DATA_DIR)

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --locked --workspace --all-targets -- -D warnings

check-config:
	$(CARGO) build --locked --bin agent5
	@for f in conf/*.toml; do \
	  echo "check-config $$f"; $(DEBUG_BIN) check-config --config $$f || exit 1; \
	done
	@if command -v promtool >/dev/null; then \
	  promtool check rules conf/prometheus/alerts.yml && promtool check config conf/prometheus/scrape.yml; \
	else echo "promtool not installed: alert rules not checked (make test installs it)"; fi
	systemd/check.sh $(DEBUG_BIN)

test:
	@scripts/install-deps.sh test
	$(MAKE) lint
	$(MAKE) check-config
	AGENT5_REQUIRE_PROMTOOL=1 scripts/with-secantus.sh $(CARGO) test --locked --workspace --all-targets
	$(MAKE) test-console
	scripts/with-secantus.sh scripts/timeshift.sh

# The admin console in headless Chromium (Debian's) with playwright-core under
# node --test, against the debug binary `cargo test` built. Screenshots of each page
# land in $(CARGO_TARGET_DIR)/console-screenshots.
test-console:
	@scripts/install-deps.sh test
	$(CARGO) build --locked --bin agent5 --bin agent5-demo
	cd console/tests && npm ci --no-audit --no-fund --loglevel=error
	cd console/tests && AGENT5_BIN=$(DEBUG_BIN) ARTIFACTS=$(CARGO_TARGET_DIR)/console-screenshots \
	  node --test --test-concurrency=1 .

# The appliance with sample prospects, a simulated carrier and a demo agent placing
# DEMO_CALLS calls at a time (tests/src/bin/agent5-demo/): no Telnyx or OpenAI account.
DEMO_CALLS ?= 3
DEMO_LISTEN ?= 127.0.0.1:3000
demo: build
	$(CARGO) build --release --locked -p agent5-e2e --bin agent5-demo
	$(CARGO_TARGET_DIR)/release/agent5-demo --bin $(RELEASE_BIN) --calls $(DEMO_CALLS) --listen $(DEMO_LISTEN)

# The console's figures (console/tests/bench.mjs): asset sizes, first load, the Monitor
# with CALLS live calls (page CPU), LISTEN_SECS of listen-in (buffer underruns).
bench-console: build
	$(CARGO) build --release --locked -p agent5-e2e --bin agent5-demo
	cd console/tests && npm ci --no-audit --no-fund --loglevel=error
	cd console/tests && AGENT5_BIN=$(RELEASE_BIN) AGENT5_DEMO_BIN=$(CARGO_TARGET_DIR)/release/agent5-demo node bench.mjs

# Every test binary with the process clock moved (libfaketime): no test may depend on
# the date it runs on. SHIFTS="+30d -2y" picks other offsets.
test-timeshift:
	@scripts/install-deps.sh test
	scripts/with-secantus.sh scripts/timeshift.sh $(SHIFTS)

# libFuzzer on the stable toolchain (scripts/fuzz.sh); `make test` replays the corpora.
FUZZ_SECS ?= 600
fuzz:
	@scripts/install-deps.sh build
	scripts/fuzz.sh $(FUZZ_SECS) $(FUZZ_TARGETS)

# RSS and open files sampled every 10 s; fails if either grows after the warm-up.
SOAK_SECS ?= 3600
SOAK_CALLS ?= 200
soak: build
	$(CARGO) build --release --locked -p agent5-e2e --bin agent5-load
	$(CARGO_TARGET_DIR)/release/agent5-load $(RELEASE_BIN) $(SOAK_CALLS) $(SOAK_SECS) soak

bench-edge:
	@scripts/install-deps.sh bench
	$(CARGO) build --release --locked --bin agent5
	scripts/bench-edge.sh $(RELEASE_BIN)

bench-upgrade:
	@scripts/install-deps.sh bench
	$(CARGO) build --release --locked --bin agent5
	scripts/bench-upgrade.sh $(RELEASE_BIN)

bench-store:
	@scripts/install-deps.sh test
	$(CARGO) build --release --locked -p agent5-api --example store_bench
	$(CARGO_TARGET_DIR)/release/examples/store_bench sqlite 100000 1000000
	scripts/with-secantus.sh $(CARGO_TARGET_DIR)/release/examples/store_bench mongo 2000 10000

bench-import: build
	scripts/bench-import.sh $(RELEASE_BIN) 100000 1000000

bench-webhooks: build
	$(CARGO) build --release --locked -p agent5-e2e --bin agent5-webhook-bench
	scripts/bench-webhooks.sh $(RELEASE_BIN) $(CARGO_TARGET_DIR)/release/agent5-webhook-bench 20000 16 64

clean:
	$(CARGO) clean

bench-calls: build
	$(CARGO) build --release --locked -p agent5-e2e --bin agent5-load --bin agent5-floor
	FLOOR=$(CARGO_TARGET_DIR)/release/agent5-floor scripts/bench-calls.sh $(RELEASE_BIN) $(CARGO_TARGET_DIR)/release/agent5-load 15 50 100 200 300 500

# 500 calls with one 100k-row CSV upload once they all stream: the calls' steady p99
# with the store and import work below the calls' priority (10) and beside it (0).
bench-import-beside: build
	$(CARGO) build --release --locked -p agent5-e2e --bin agent5-load
	scripts/bench-import-beside.sh $(RELEASE_BIN) $(CARGO_TARGET_DIR)/release/agent5-load $(or $(RUNS),4)

# The dialler over 1M contacts on SQLite (first dial, decisions/s, peak RSS), then 200
# calls without and with that campaign dialling beside them (p99 per direction).
bench-dialer: build
	$(CARGO) build --release --locked -p agent5-e2e --bin agent5-dialer-bench --bin agent5-load
	rm -f $(CARGO_TARGET_DIR)/dialer-bench.db*
	$(CARGO_TARGET_DIR)/release/agent5-dialer-bench $(or $(CONTACTS),1000000) 20 --db $(CARGO_TARGET_DIR)/dialer-bench.db
	scripts/bench-dialer-alongside.sh $(RELEASE_BIN) $(CARGO_TARGET_DIR)/release/agent5-load $(CARGO_TARGET_DIR)/dialer-bench.db $(or $(RUNS),5)
	rm -f $(CARGO_TARGET_DIR)/dialer-bench.db*

# Three appliances on one store, 200 calls on node B, every 10th listened to on B and
# through node A (the internal hop): listen-in latency local vs forwarded, and the CPU
# of node C following B's calls. On SQLite (polling), then on SecantusDB (change stream).
bench-cluster: build
	@scripts/install-deps.sh test
	$(CARGO) build --release --locked -p agent5-e2e --bin agent5-cluster-bench
	$(CARGO_TARGET_DIR)/release/agent5-cluster-bench $(RELEASE_BIN) $(or $(CALLS),200) 30
	scripts/with-secantus.sh $(CARGO_TARGET_DIR)/release/agent5-cluster-bench $(RELEASE_BIN) $(or $(CALLS),200) 30

bench-listen: build
	$(CARGO) build --release --locked -p agent5-e2e --bin agent5-load
	$(CARGO_TARGET_DIR)/release/agent5-load $(RELEASE_BIN) 200 15
	$(CARGO_TARGET_DIR)/release/agent5-load $(RELEASE_BIN) 200 15 listen
	$(CARGO_TARGET_DIR)/release/agent5-load $(RELEASE_BIN) 200 15 listen16
	$(CARGO_TARGET_DIR)/release/agent5-load $(RELEASE_BIN) 200 15 listen8

# Installs the release binary, config, env template, unit and tmpfiles; with
# DESTDIR=/some/root only files under that root (packagers, tests).
install: build
	DESTDIR=$(DESTDIR) systemd/install.sh $(RELEASE_BIN)

# Removes the binary and unit; keeps /etc/agent5 and /var/lib/agent5 unless PURGE=1.
uninstall:
	@if [ -z "$(DESTDIR)" ]; then systemctl disable --now agent5 2>/dev/null || true; fi
	rm -f $(DESTDIR)/usr/local/bin/agent5 $(DESTDIR)/etc/systemd/system/agent5.service $(DESTDIR)/etc/tmpfiles.d/agent5.conf
	@if [ "$(PURGE)" = "1" ]; then rm -rf $(DESTDIR)/etc/agent5 $(DESTDIR)/var/lib/agent5; echo "purged config and data"; \
	else echo "kept /etc/agent5 and /var/lib/agent5 (PURGE=1 removes them)"; fi

# A release tarball: binary, conf, systemd files, README.
dist: build
	@version=$$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1); \
	name=agent5-$$version-linux-$$(uname -m); out=$(CARGO_TARGET_DIR)/dist/$$name; \
	rm -rf $$out && mkdir -p $$out/bin && cp $(RELEASE_BIN) $$out/bin/ && cp -r conf systemd README.md $$out/ && \
	tar -C $(CARGO_TARGET_DIR)/dist -czf $(CARGO_TARGET_DIR)/dist/$$name.tar.gz $$name && \
	echo "$(CARGO_TARGET_DIR)/dist/$$name.tar.gz"
