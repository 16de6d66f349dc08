# The two commands a newcomer needs: `make serve` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install serve test test-all bench clean

$(STAMP): pyproject.toml
	@$(PY) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "live needs Python 3.11 or newer (found %d.%d); set PY=python3.11" % sys.version_info[:2])'
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	@echo "installing live and its dependencies into $(VENV) ..."
	@$(BIN)/python -m pip install --quiet --upgrade pip
	@$(BIN)/python -m pip install --quiet -e '.[test]'
	@touch $(STAMP)

install: $(STAMP)

## serve: the whole service on one machine (SQLite, in-process bus) at http://127.0.0.1:8080
serve: $(STAMP)
	@$(BIN)/live db upgrade
	@echo "live: open http://$${LIVE_HOST:-127.0.0.1}:$${LIVE_PORT:-8080}/ (Ctrl-C stops)"
	@$(BIN)/live serve --dev

## test: the whole suite (SQLite and PostgreSQL legs, in-process and Redis buses)
test: $(STAMP)
	@$(BIN)/python -m pytest

## test-all: also the long soak runs kept out of `make test`
test-all: $(STAMP)
	@$(BIN)/python -m pytest -m ''

clean:
	rm -rf $(VENV) var .pytest_cache .hypothesis build *.egg-info
