# pingyi — `make run` (demo on embedded defaults) and `make test` (the whole suite).
# Both bootstrap themselves: a virtualenv in .venv, the package and its extras,
# and (as root, when missing) the Debian packages the tests and slips use.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
HOST   ?= 127.0.0.1
PORT   ?= 5000
FAKE_PORT ?= 5101
APT_PACKAGES := chromium zbar-tools poppler-utils fonts-wqy-zenhei fonts-noto-cjk wrk redis-tools

.PHONY: run test test-faults test-quick bench lint system-deps fonts clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

# Debian packages: chromium (browser tests), zbar/poppler (slip decoding),
# CJK fonts (slips, cards), redis-tools (redis-cli, to create the test Redis
# Cluster). Installed only when missing and when we are root.
system-deps:
	@missing=""; for p in $(APT_PACKAGES); do \
	  dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing Debian packages:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else echo "warning: missing Debian packages:$$missing (some tests will fail)"; fi; \
	fi

# Only the CJK font for printed slips; best effort so `make run` works anywhere.
fonts:
	@dpkg -s fonts-wqy-zenhei >/dev/null 2>&1 || { \
	  [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fonts-wqy-zenhei >/dev/null; } \
	  || echo "note: no CJK TrueType font; slips use a non-embedded CID font"; }

# The demo: migrate, seed an organisation with open rounds and printed slips,
# start the local WeChat/WeCom fake, publish a leaderboard to it, then serve
# with the production server (config/gunicorn.conf.py, one worker): the same
# ASGI app, ballots on the event loop, as every deployment.
# Quiet: the setup logs to instance/run.log and the server to instance/server.log;
# what is printed is a short summary. Slips and links use an address phones can
# reach: PUBLIC_BASE_URL, else HOST, else (HOST=0.0.0.0) the machine's LAN address
# (server/demo/address.py). Ctrl-C stops the server and the fake.
# umask 077: the logs, the database, the secrets and the slips are the owner's alone.
run: $(STAMP) fonts
	@umask 077; mkdir -p instance; chmod 700 instance; log=instance/run.log; : > $$log; \
	base=$$($(BIN)/python -m server.demo.address --host '$(HOST)' --port '$(PORT)') || exit 1; \
	why=$$($(BIN)/python -m server.demo.address --host '$(HOST)' --port '$(PORT)' --explain); \
	fail() { echo "make run: $$1 failed; the end of $$log:"; tail -n 20 $$log; exit 1; }; \
	$(BIN)/pingyi db upgrade >>$$log 2>&1 || fail "pingyi db upgrade"; \
	echo ""; echo "pingyi demo — phones and slips use $$why"; \
	$(BIN)/pingyi demo seed --base-url $$base 2>>$$log || fail "pingyi demo seed"; \
	$(BIN)/python -m bot.wechat_fake --port $(FAKE_PORT) > instance/wechat-fake.log 2>&1 & fake=$$!; \
	trap 'kill $$fake 2>/dev/null' EXIT INT TERM; \
	$(BIN)/python -m bot.wechat_fake --port $(FAKE_PORT) --wait >>$$log 2>&1; \
	PUBLIC_BASE_URL=$$base WECOM_API_BASE=http://127.0.0.1:$(FAKE_PORT) $(BIN)/pingyi bot demo \
	  --fake-url http://127.0.0.1:$(FAKE_PORT) 2>>$$log || echo "  (bot demo failed: see $$log)"; \
	echo "  logs         : $$log (setup), instance/server.log (server and requests)"; \
	echo "serving on $(HOST):$(PORT) — Ctrl-C stops it"; echo ""; \
	PUBLIC_BASE_URL=$$base WECOM_API_BASE=http://127.0.0.1:$(FAKE_PORT) PINGYI_WORKERS=1 \
	  PINGYI_BIND='$(HOST):$(PORT)' PINGYI_ACCESS_LOG=- $(BIN)/gunicorn -c config/gunicorn.conf.py \
	  > instance/server.log 2>&1 \
	  || { echo "the server stopped; the end of instance/server.log:"; tail -n 20 instance/server.log; exit 1; }

# The 25 slowest tests are listed at the end of each run. TEST_ARGS adds pytest options,
# e.g. TEST_ARGS="-n 2 --dist loadgroup" runs the tests in two processes (pytest-xdist;
# tests/support/workers.py gives each its own databases).
PYTEST := $(BIN)/pytest -q --durations=25 $(TEST_ARGS)

test: $(STAMP) system-deps
	$(MAKE) lint
	$(PYTEST)

# The long part of the reliability suite: 100-trial races, kill -9 of workers,
# Redis and PostgreSQL outages, the full schemathesis run, file-level linkage.
test-faults: $(STAMP) system-deps
	$(PYTEST) -s -m faults

test-quick: $(STAMP)
	$(PYTEST) -m "not browser"

# Side-by-side load test of the production server (not part of `make test`,
# which runs only a smoke pass of the same harness). Table + bench/out/latest.json.
bench: $(STAMP) system-deps
	$(BIN)/python bench/run.py $(BENCH_ARGS)

# ruff; the import contracts of pyproject.toml (lint-imports: layers, server never imports
# bot); mypy on server/ and bot/ (config in pyproject.toml).
lint: $(STAMP)
	$(BIN)/ruff check server bot tests bench migrations
	$(BIN)/lint-imports
	$(BIN)/mypy

clean:
	rm -rf $(VENV) instance .pytest_cache .hypothesis

# The voting page's copy of @cloudflare/blindrsa-ts (server/voting/static/vendor/): rebuilt
# from the versions pinned in js/package-lock.json. Needs node >= 20 and npm; the output is
# committed, so run, test and CI never need them.
.PHONY: vendor-js
vendor-js:
	cd js && npm ci --no-audit --no-fund && node build.mjs

# The core tests again on a real 3-master Redis Cluster: the test fixture starts
# it on loopback ports (redis-server --cluster-enabled + redis-cli --cluster
# create) and stops it when the run ends, so nothing is left running.
CLUSTER_TESTS := tests/test_voting_api.py tests/test_tally_rebuild.py tests/test_rounds_api.py \
	tests/test_concurrency.py tests/test_two_hosts.py tests/test_cluster.py \
	tests/test_cluster_slots.py tests/test_ballot_asgi.py \
	$(wildcard tests/test_points*.py tests/test_leaderboard*.py)

.PHONY: test-cluster
test-cluster: $(STAMP)
	TEST_REDIS_CLUSTER=1 $(PYTEST) $(CLUSTER_TESTS)
