# One virtualenv per clone; every target creates it on first use.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint bench clean chromium mutation

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/scrapeline demo $(ARGS)

test: $(STAMP) chromium
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy
	$(BIN)/pytest -q -rs -p no:cacheprovider $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy

# Debian's Chromium, for the browser fetcher's tests, where it can be installed (root and
# apt-get); elsewhere those tests skip and say why. Never fails the build.
chromium:
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 \
	  && echo "installing Debian's chromium with apt-get, for the browser fetcher's tests (once)" \
	  && apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } \
	  || echo "chromium not installed: the browser fetcher's tests will be skipped"

# Mutation testing of the pure modules, one at a time, each judged only by its own tests
# (mutation/modules.toml; equivalent mutants are explained in mutation/EQUIVALENT.md).
# `make mutation MODULES="fetch/retry secrets"` runs a subset.
MODULES ?= fetch/retry fetch/breaker fetch/limits fetch/robots secrets runner/policies ledger/memory
mutation: $(STAMP)
	$(BIN)/pip install -q 'mutmut==3.8.1'
	$(BIN)/python mutation/run.py $(MODULES)

bench: $(STAMP)
	$(BIN)/python -m bench $(ARGS)

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info
