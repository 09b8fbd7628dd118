# Everything a fresh machine needs is installed by these targets; nothing is assumed.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: test lint run bench bench-docs reliability tools age venv clean image image-test

# The image's tests (tests/image/, which a plain `pytest` does not collect) run once, in image-test.
# The suite checks the generated docs and never rewrites them: it fails when docs/reliability.md's
# fault matrix is not what the fault tests observed (`make reliability` writes it), or when
# docs/benchmarks.md is not what benchmarks/results.json and analysis.md render to (`make bench-docs`).
test: venv tools age lint
	MONGO_TOOLS_BIN="$$(scripts/build-mongo-tools)" LAMBDA_RIE="$$(scripts/build-lambda-rie)" \
		$(BIN)/pytest $(PYTEST_ARGS)
	$(MAKE) --no-print-directory image-test

# The container image (docs/deploy.md), with BuildKit. GO_IMAGE and LAMBDA_BASE_IMAGE replace the
# Dockerfile's base images when given. DOCKER defaults to Debian's docker.io client, whose
# built-in BuildKit client needs no buildx plugin.
IMAGE ?= backupnimbus:latest
DOCKER ?= $(firstword $(wildcard /usr/bin/docker) docker)
image:
	DOCKER_BUILDKIT=1 $(DOCKER) build --progress=plain \
		$(if $(GO_IMAGE),--build-arg GO_IMAGE=$(GO_IMAGE)) \
		$(if $(LAMBDA_BASE_IMAGE),--build-arg LAMBDA_BASE_IMAGE=$(LAMBDA_BASE_IMAGE)) \
		-t $(IMAGE) .

# Builds the image on a real Docker engine from stand-in base images made of Debian packages and
# runs it against the test servers: CLI, Lambda runtime (RIE), docker stop, the Fargate task.
# Installs docker.io and debootstrap and starts dockerd when needed (scripts/image-test).
image-test: venv tools
	PYTEST=$(BIN)/pytest MONGO_TOOLS_BIN="$$(scripts/build-mongo-tools)" \
		LAMBDA_RIE="$$(scripts/build-lambda-rie)" scripts/image-test $(IMAGE_TEST_ARGS)

lint: venv
	$(BIN)/ruff check backupnimbus tests benchmarks
	$(BIN)/ruff format --check backupnimbus tests benchmarks
	$(BIN)/mypy
	$(BIN)/hadolint Dockerfile
	$(BIN)/cfn-lint deploy/template.yaml

# The fault matrix of docs/reliability.md, written from what the fault tests observe; nothing is
# written unless every test of the run passed.
FAULT_TESTS := tests/e2e/test_faults.py tests/e2e/test_deadline.py tests/e2e/test_trust.py
reliability: venv tools
	MONGO_TOOLS_BIN="$$(scripts/build-mongo-tools)" LAMBDA_RIE="$$(scripts/build-lambda-rie)" \
		$(BIN)/pytest $(FAULT_TESTS) --write-fault-matrix $(PYTEST_ARGS)

run: venv tools
	MONGO_TOOLS_BIN="$$(scripts/build-mongo-tools)" $(BIN)/python -m backupnimbus.entrypoints.make_run

# The benchmark (benchmarks/): measures, then writes docs/benchmarks.md, docs/benchmarks.png and
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

# docs/benchmarks.md and the plot again from the recorded benchmarks/results.json and the
# hand-written benchmarks/analysis.md, measuring nothing.
bench-docs: venv
	$(BIN)/python -m pip install --quiet -e '.[test,bench]'
	$(BIN)/python -m benchmarks.run --render

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
