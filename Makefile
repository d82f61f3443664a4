# Threadr API — every target installs what it needs first. `make help` lists them.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
TEST_REDIS_URL ?= redis://127.0.0.1:6379/15
export TEST_REDIS_URL

.DEFAULT_GOAL := help
.PHONY: help install run test lint unit integration bench bench-extract bench-hostile loadtest screenshot clean

help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Threadr needs Python 3.11 or newer (set PYTHON=python3.x)")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.runtime: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	@touch $@

$(VENV)/.test: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test]'
	@touch $@ $(VENV)/.runtime

$(VENV)/.bench: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test,bench]'
	@touch $@ $(VENV)/.test $(VENV)/.runtime

install: $(VENV)/.runtime ## create .venv and install the service

run: $(VENV)/.runtime ## serve the API on $$PORT (8000); no REDIS_URL → memory, no OPENAI_API_KEY → offline
	$(BIN)/threadr serve

test: lint ## lint, then the whole suite (starts a local Redis if none answers, installs chromium)
	@scripts/ensure-redis "$(TEST_REDIS_URL)"
	@scripts/ensure-chromium
	$(BIN)/pytest

unit: $(VENV)/.test ## unit tests only (no Redis needed)
	$(BIN)/pytest -m "not integration"

lint: $(VENV)/.test ## ruff (with the ASYNC rules), mypy --strict, the architecture's contracts
	$(BIN)/ruff check src tests bench locustfile.py
	$(BIN)/mypy
	$(BIN)/lint-imports

bench-extract: $(VENV)/.bench ## extraction quality and speed vs trafilatura and readability-lxml
	$(BIN)/python -m bench.extract_bench

bench: $(VENV)/.bench ## service vs a bare reference app (wrk, own Redis): bench/results/perf.json, docs/performance.md
	@command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk)
	@command -v redis-server >/dev/null || (apt-get update -qq && apt-get install -y -qq redis-server)
	@test -x $(BIN)/py-spy || $(BIN)/pip install --quiet py-spy
	$(BIN)/python -m bench.perf

bench-hostile: $(VENV)/.bench ## /health and cache-hit latency while hostile pages are read: docs/performance.md
	@command -v redis-server >/dev/null || (apt-get update -qq && apt-get install -y -qq redis-server)
	$(BIN)/python -m bench.hostile

loadtest: $(VENV)/.bench ## locustfile.py headless for 30 s against a local instance (memory stores, offline writer)
	$(BIN)/python -m bench.loadtest --seconds 30

screenshot: $(VENV)/.runtime ## regenerate docs/playground.png (headless Chromium, installed if missing)
	scripts/playground-screenshot docs/playground.png

clean: ## remove the virtualenv and caches
	rm -rf $(VENV) .pytest_cache .ruff_cache .coverage build src/*.egg-info
