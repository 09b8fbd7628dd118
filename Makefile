# Everything a fresh machine needs is installed by these targets; nothing is assumed.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: test lint run tools age venv clean

test: venv tools age lint
	MONGO_TOOLS_BIN="$$(scripts/build-mongo-tools)" $(BIN)/pytest $(PYTEST_ARGS)

lint: venv
	$(BIN)/ruff check backupnimbus tests
	$(BIN)/ruff format --check backupnimbus tests
	$(BIN)/mypy

run: venv tools
	MONGO_TOOLS_BIN="$$(scripts/build-mongo-tools)" $(BIN)/python -m backupnimbus.entrypoints.make_run

venv: $(STAMP)

$(STAMP): pyproject.toml
	[ -x $(BIN)/python ] || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

tools:
	@scripts/build-mongo-tools >/dev/null

age:
	@command -v age >/dev/null || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq age; }

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
