# Everything a fresh machine needs is installed by these targets; nothing is assumed.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: test lint run bench tools age venv clean

test: venv tools age lint
	MONGO_TOOLS_BIN="$$(scripts/build-mongo-tools)" LAMBDA_RIE="$$(scripts/build-lambda-rie)" \
		$(BIN)/pytest $(PYTEST_ARGS)

lint: venv
	$(BIN)/ruff check backupnimbus tests benchmarks
	$(BIN)/ruff format --check backupnimbus tests benchmarks
	$(BIN)/mypy
	$(BIN)/hadolint Dockerfile
	$(BIN)/cfn-lint deploy/template.yaml

run: venv tools
	MONGO_TOOLS_BIN="$$(scripts/build-mongo-tools)" $(BIN)/python -m backupnimbus.entrypoints.make_run

# The benchmark of issue 7 (benchmarks/): docs/benchmarks.md, docs/benchmarks.png and
# benchmarks/results.json from one run. Options through BENCH_ARGS, e.g. BENCH_ARGS='--only a,d'.
BENCH_CACHE ?= $(HOME)/.cache/backupnimbus/bench
BENCH_AWS := $(BENCH_CACHE)/awscli-venv/bin/aws
bench: venv
	@[ -x /usr/bin/time ] || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq time; }
	$(BIN)/python -m pip install --quiet -e '.[test,bench]'
	@[ -x $(BENCH_AWS) ] || { $(PYTHON) -m venv $(BENCH_CACHE)/awscli-venv && \
		$(BENCH_CACHE)/awscli-venv/bin/python -m pip install --quiet 'awscli>=1.36'; }
	MONGO_TOOLS_BIN="$$(scripts/build-mongo-tools)" BACKUPNIMBUS_BENCH_CACHE=$(BENCH_CACHE) \
		$(BIN)/python -m benchmarks.run --aws $(BENCH_AWS) $(BENCH_ARGS)

venv: $(STAMP)

$(STAMP): pyproject.toml
	[ -x $(BIN)/python ] || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

tools:
	@scripts/build-mongo-tools >/dev/null
	@scripts/build-lambda-rie >/dev/null

age:
	@command -v age >/dev/null || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq age; }

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
