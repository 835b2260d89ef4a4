# The two commands of the README: `make demo` and `make test`. Each sets up everything it needs
# (a virtual environment with the pinned requirements, the pinned Node tools) on a fresh machine.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export CDK_DISABLE_CLI_TELEMETRY := true
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: demo test setup lint typecheck synth deploy layer bench bench-features bench-cold-start bench-small-runs clean

demo: $(VENV)/.installed
	$(BIN)/featurize demo

# One environment: the venv installs requirements-lambda.txt, the pins the Lambdas' layer is built from.
# The layer (aarch64, and its x86_64 twin the tests import) builds on first use into
# ~/.cache/featurize/layers (pip downloads ~80 MB of wheels for each, once; FEATURIZE_LAYER_CACHE moves it).
test: $(VENV)/.installed-dev node_modules/.installed
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/pytest -n 2 --dist loadfile

setup: $(VENV)/.installed-dev node_modules/.installed

$(VENV)/.installed: requirements.txt requirements-lambda.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt
	$(PY) -m pip install -q --no-deps -e .
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed requirements-dev.txt
	$(PY) -m pip install -q -r requirements-dev.txt
	touch $@

node_modules/.installed: package.json
	npm install --no-audit --no-fund --loglevel=error
	touch $@

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .

# mypy over featurize/, lambdas/ and cdk_app/ ([tool.mypy] in pyproject.toml; cache in ~/.cache/featurize/mypy).
typecheck: $(VENV)/.installed-dev
	$(BIN)/mypy

synth: $(VENV)/.installed node_modules/.installed
	npx cdk synth -q --no-notices

# Deploys to the AWS account and region of your AWS configuration (run `npx cdk bootstrap` once first).
deploy: $(VENV)/.installed node_modules/.installed
	npx cdk deploy --no-notices

# Builds (or finds in the cache) the Lambda layer and its x86_64 twin, and prints their sizes.
layer: $(VENV)/.installed
	$(PY) -m cdk_app.layer

bench: $(VENV)/.installed-dev
	$(PY) benchmarks/bench_minimal.py

bench-features: $(VENV)/.installed-dev
	$(PY) benchmarks/bench_features.py --per-calculator

# Import time of each handler module from the layer's x86_64 twin, in fresh `python -I` processes.
bench-cold-start: $(VENV)/.installed
	$(PY) benchmarks/bench_cold_start.py

# Fresh-process wall clock of small local runs vs a tsfresh script (issue 14's sizes and goals).
bench-small-runs: $(VENV)/.installed-dev
	$(PY) benchmarks/bench_small_runs.py --serve --ctrl-c

clean:
	rm -rf $(VENV) node_modules cdk.out .pytest_cache
