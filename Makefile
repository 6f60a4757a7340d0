# Rialto developer tasks. Everything runs from the project's own virtualenv in .venv/.
#
#   make run     the exchange with demo markets (rialto up --demo)   make test    the test suite
#   make lint    ruff + mypy                               make bench   benchmarks (JSON lines)
#   make web     build the web trading terminal (web/dist, served by the gateway at /)
#
# `make test` treats "pytest collected no tests" (pytest exit 5) as a failure, and writes pytest's
# own exit code to test-artifacts/pytest-exit-code so that callers (.ci/run) can tell it apart
# from other failures: make itself always exits 2 when a recipe fails.

SHELL := /bin/bash
.DEFAULT_GOAL := help

# Prefer python3.11 (the project's target); fall back to python3.
PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3 2>/dev/null)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

# Only lint the source trees that exist (tests/ and bench/ may be absent in a partial checkout).
LINT_PATHS := $(wildcard src tests bench)

PYTEST_ARGS ?=
BENCH_ARGS ?= --quick
RUN_ARGS ?=

# The web terminal: npm ci (npm install without a lock file) only when package.json or the lock
# file changed; a Vite build only when a source changed. Debian's chromium for its e2e tests.
WEB := web
WEB_STAMP := $(WEB)/node_modules/.installed
WEB_DIST := $(WEB)/dist/index.html
WEB_SOURCES := $(shell find $(WEB)/src -type f 2>/dev/null) $(wildcard $(WEB)/index.html \
	$(WEB)/vite.config.ts $(WEB)/tsconfig.json)
CHROMIUM := /usr/bin/chromium

.PHONY: help venv run test lint fmt bench services clean distclean web chromium

help:
	@echo "make run       start the exchange with demo markets and liquidity (RUN_ARGS='--data-dir DIR')"
	@echo "make test      start local services, run pytest (PYTEST_ARGS='-k book -x')"
	@echo "make lint      ruff check, ruff format --check, mypy"
	@echo "make fmt       ruff check --fix, ruff format"
	@echo "make bench     run every bench/*.py except _*.py (BENCH_ARGS, default --quick)"
	@echo "make services  start PostgreSQL, MariaDB, Redis, NATS if they are not running"
	@echo "make venv      create/refresh .venv (only reinstalls when pyproject.toml changes)"
	@echo "make web       build the web terminal into web/dist (npm ci only when package files change)"
	@echo "make chromium  install Debian's chromium for the e2e tests if it is missing"
	@echo "make clean     remove caches and build output; make distclean also removes .venv"

venv: $(STAMP)

# Create the virtualenv once. Debian's system python3 lacks ensurepip unless python3-venv is
# installed: in that case install it (non-interactively) and retry.
$(BIN)/python:
	@test -n "$(PYTHON)" || { echo "error: no python3 found on PATH" >&2; exit 1; }
	@echo "==> creating $(VENV) with $(PYTHON)"
	@if ! $(PYTHON) -m venv $(VENV); then \
		echo "==> '$(PYTHON) -m venv' failed; installing python3-venv with apt-get"; \
		rm -rf $(VENV); \
		SUDO=; [ "$$(id -u)" -eq 0 ] || SUDO=sudo; \
		pyver=$$($(PYTHON) -c 'import sys; print("%d.%d" % sys.version_info[:2])'); \
		$$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
		$$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv \
			|| exit 1; \
		$$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python$$pyver-venv \
			>/dev/null 2>&1 || true; \
		$(PYTHON) -m venv $(VENV) || { rm -rf $(VENV); exit 1; }; \
	fi
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip

# Reinstall the project (editable) and dev tools only when pyproject.toml changes.
$(STAMP): pyproject.toml | $(BIN)/python
	@echo "==> installing rialto[dev] into $(VENV)"
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $@

web: $(WEB_DIST)

$(WEB_STAMP): $(WEB)/package.json $(wildcard $(WEB)/package-lock.json)
	@if ! command -v npm >/dev/null; then \
		echo "==> installing Node.js and npm with apt-get (the web terminal's build needs them)"; \
		SUDO=; [ "$$(id -u)" -eq 0 ] || SUDO=sudo; \
		$$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
		$$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null \
			|| { echo "error: npm (Node.js 20+) is needed to build web/" >&2; exit 1; }; \
	fi
	@echo "==> installing the web terminal's npm packages"
	@cd $(WEB) && if [ -f package-lock.json ]; then npm ci --no-audit --no-fund; \
		else npm install --no-audit --no-fund; fi
	@touch $@

$(WEB_DIST): $(WEB_STAMP) $(WEB_SOURCES)
	@echo "==> building the web terminal (web/dist)"
	@cd $(WEB) && npm run --silent build
	@touch $@

# Debian's chromium, for the web terminal's end-to-end tests (Playwright drives it).
chromium:
	@if [ ! -x $(CHROMIUM) ]; then \
		echo "==> installing Debian's chromium with apt-get"; \
		SUDO=; [ "$$(id -u)" -eq 0 ] || SUDO=sudo; \
		$$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
		$$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null \
			|| { echo "error: could not install chromium" >&2; exit 1; }; \
	fi

run: venv web
	$(BIN)/rialto up --demo $(RUN_ARGS)

services:
	@bash scripts/services.sh

test: venv services web chromium
	@mkdir -p test-artifacts
	@rm -f test-artifacts/pytest-exit-code
	@rc=0; $(BIN)/python -m pytest $(PYTEST_ARGS) || rc=$$?; \
	echo $$rc > test-artifacts/pytest-exit-code; \
	if [ $$rc -eq 5 ]; then \
		echo "make test: error: pytest collected no tests (exit 5); treating that as a failure" >&2; \
	fi; \
	exit $$rc

lint: venv
	$(BIN)/ruff check $(LINT_PATHS)
	$(BIN)/ruff format --check $(LINT_PATHS)
	$(BIN)/mypy

fmt: venv
	$(BIN)/ruff format $(LINT_PATHS)
	$(BIN)/ruff check --fix $(LINT_PATHS)

bench: venv services
	@shopt -s nullglob; files=(bench/[!_]*.py); \
	if [ $${#files[@]} -eq 0 ]; then echo "make bench: error: no bench/*.py files" >&2; exit 1; fi; \
	for f in "$${files[@]}"; do \
		echo "==> $$f $(BENCH_ARGS)" >&2; \
		$(BIN)/python "$$f" $(BENCH_ARGS) || exit $$?; \
	done

clean:
	rm -rf build dist src/*.egg-info *.egg-info .pytest_cache .mypy_cache .ruff_cache \
		.hypothesis test-artifacts $(WEB)/dist
	find . \( -path ./$(VENV) -o -path ./.git \) -prune -o -name __pycache__ -type d -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV) $(WEB)/node_modules
