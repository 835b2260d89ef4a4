# The two commands of the README: `make demo` and `make test`. Each sets up everything it needs
# (a virtual environment with the pinned requirements, the pinned Node tools) on a fresh machine.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export CDK_DISABLE_CLI_TELEMETRY := true
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: demo test setup lint synth deploy bench bench-features bench-small-runs clean

demo: $(VENV)/.installed
	$(BIN)/featurize demo

# The handler and core tests run a second time under pandas 2.2 (the managed Lambda layer's major).
LAMBDA_VENV := .venv-pandas22
LAMBDA_TESTS := tests/test_handlers.py tests/test_core_merge.py tests/test_calculators.py tests/test_core_features.py tests/test_core_partition.py tests/test_lambda_imports.py

test: $(VENV)/.installed-dev $(LAMBDA_VENV)/.installed node_modules/.installed
	$(BIN)/ruff check .
	$(BIN)/pytest -n 2 --dist loadfile
	OPENBLAS_NUM_THREADS=1 $(LAMBDA_VENV)/bin/pytest -q -p no:cacheprovider $(LAMBDA_TESTS)

setup: $(VENV)/.installed-dev node_modules/.installed

$(VENV)/.installed: requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt
	$(PY) -m pip install -q --no-deps -e .
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed requirements-dev.txt
	$(PY) -m pip install -q -r requirements-dev.txt
	touch $@

$(LAMBDA_VENV)/.installed: requirements-lambda.txt pyproject.toml
	test -x $(LAMBDA_VENV)/bin/python || $(PYTHON) -m venv $(LAMBDA_VENV)
	$(LAMBDA_VENV)/bin/python -m pip install -q --upgrade pip
	$(LAMBDA_VENV)/bin/python -m pip install -q -r requirements-lambda.txt
	$(LAMBDA_VENV)/bin/python -m pip install -q --no-deps -e .
	touch $@

node_modules/.installed: package.json
	npm install --no-audit --no-fund --loglevel=error
	touch $@

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .

synth: $(VENV)/.installed node_modules/.installed
	npx cdk synth -q --no-notices

# Deploys to the AWS account and region of your AWS configuration (run `npx cdk bootstrap` once first).
deploy: $(VENV)/.installed node_modules/.installed
	npx cdk deploy --no-notices

bench: $(VENV)/.installed-dev
	$(PY) benchmarks/bench_minimal.py

bench-features: $(VENV)/.installed-dev
	$(PY) benchmarks/bench_features.py --per-calculator

# Fresh-process wall clock of small local runs vs a tsfresh script (issue 14's sizes and goals).
bench-small-runs: $(VENV)/.installed-dev
	$(PY) benchmarks/bench_small_runs.py --serve --ctrl-c

clean:
	rm -rf $(VENV) $(LAMBDA_VENV) node_modules cdk.out .pytest_cache
