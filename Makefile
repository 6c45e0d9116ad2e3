# Two commands do all set-up on a fresh Linux machine with Python 3.11:
#   make up    run Lockgate on its embedded defaults
#   make test  run the whole suite
PYTHON ?= python3.11
VENV := .venv
STAMP := $(VENV)/.installed

.PHONY: up test lint install clean

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "need $(PYTHON) on PATH (or make PYTHON=python3)"; exit 1; }
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --upgrade pip
	$(VENV)/bin/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

up: $(STAMP)
	$(VENV)/bin/lockgate up

test: $(STAMP)
	$(VENV)/bin/ruff check service workers tests
	$(VENV)/bin/mypy
	$(VENV)/bin/python -m pytest

lint: $(STAMP)
	$(VENV)/bin/ruff check service workers tests
	$(VENV)/bin/ruff format --check service workers tests
	$(VENV)/bin/mypy

clean:
	rm -rf $(VENV) .lockgate .pytest_cache .mypy_cache .ruff_cache
