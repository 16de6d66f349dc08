# The two commands a newcomer needs: `make serve` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install serve test test-all lint bench lock clean browser

$(STAMP): pyproject.toml requirements-dev.lock
	@$(PY) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "live needs Python 3.11 or newer (found %d.%d); set PY=python3.11" % sys.version_info[:2])'
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	@echo "installing live and its locked dependencies into $(VENV) ..."
	@$(BIN)/python -m pip install --quiet --upgrade pip
	@$(BIN)/python -m pip install --quiet --require-hashes -r requirements-dev.lock
	@$(BIN)/python -m pip install --quiet --no-deps -e .
	@touch $(STAMP)

install: $(STAMP)

## serve: the whole service on one machine (SQLite, in-process bus) at http://127.0.0.1:8080
serve: $(STAMP)
	@$(BIN)/live db upgrade
	@echo "live: open http://$${LIVE_HOST:-127.0.0.1}:$${LIVE_PORT:-8080}/ (Ctrl-C stops)"
	@$(BIN)/live serve --dev

## test: lint first, then the whole suite (SQLite and PostgreSQL legs, in-process and Redis buses)
test: $(STAMP) browser lint
	@$(BIN)/python -m pytest

## lint: ruff on live, loadtest and tests, and mypy --strict on live (seconds; mypy keeps its cache in .mypy_cache)
lint: $(STAMP)
	@$(BIN)/ruff check live loadtest tests
	@$(BIN)/mypy live

## test-all: also the long soak runs kept out of `make test`
test-all: $(STAMP) browser
	@$(BIN)/python -m pytest -m ''

## bench: the standard benchmark set, every peer in the same run: live (SQLite; PostgreSQL + Redis),
## python-socketio and Node.js Socket.IO (its packages by `npm ci` from the lock), each server with its
## Redis pinned to the first core and the load generator to the others (about 11 minutes on 2 cores):
## writes docs/benchmarks.md, the README's performance block and var/bench/report.html
bench: $(STAMP)
	@$(BIN)/python -m loadtest.bench

## lock: resolve pyproject.toml's ranges again into the two lock files (with hashes): requirements.lock
## (what the service needs: docker/Dockerfile) and requirements-dev.lock (with the test and bench
## extras: make, CI). Run after changing a dependency; commit both.
LOCK_FLAGS = --quiet --generate-hashes --strip-extras --allow-unsafe --no-emit-index-url --no-emit-find-links
lock: $(STAMP)
	@$(BIN)/python -m pip install --quiet pip-tools
	@CUSTOM_COMPILE_COMMAND="make lock" $(BIN)/pip-compile $(LOCK_FLAGS) --output-file requirements.lock pyproject.toml
	@CUSTOM_COMPILE_COMMAND="make lock" $(BIN)/pip-compile $(LOCK_FLAGS) --extra test --extra bench --output-file requirements-dev.lock pyproject.toml

clean:
	rm -rf $(VENV) var .pytest_cache .hypothesis .mypy_cache .ruff_cache build *.egg-info

## browser: Debian's Chromium for the web client's tests, installed where missing and possible
## (root with apt-get); elsewhere the browser tests are skipped and the run says so loudly.
CHROMIUM ?= /usr/bin/chromium
browser:
	@if [ -x "$(CHROMIUM)" ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "installing chromium for the browser tests (apt-get) ..."; \
		{ apt-get install -y -q chromium fonts-noto-color-emoji >/dev/null 2>&1 || \
		  { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q chromium fonts-noto-color-emoji >/dev/null 2>&1; }; } || \
		echo "!!! could not install chromium: the browser tests will be SKIPPED"; \
	else \
		echo "!!! no $(CHROMIUM) and no way to install it here (needs root and apt-get): the browser tests will be SKIPPED"; \
	fi
