# Two commands from a fresh clone: `make serve` and `make test`.
# Every target creates .venv and installs the project into it when needed.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000
ARTIFACT ?= artifacts/model.pkl

.PHONY: install lock train serve test lint evaluate tune loadtest bench container clean

install: $(VENV)/.installed

# Exact versions from the lock file (the image uses requirements.lock the same way).
$(VENV)/.installed: pyproject.toml requirements-dev.lock
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.lock
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $@

# Re-pin the lock files from pyproject.toml's ranges: requirements.lock (serving),
# requirements-train.lock (+ training), requirements-dev.lock (+ tests and tools).
LOCK_FLAGS = --quiet --strip-extras --allow-unsafe --no-emit-index-url --no-emit-find-links \
	--no-emit-trusted-host
lock: install
	$(PY) -m pip install --quiet pip-tools
	$(VENV)/bin/pip-compile $(LOCK_FLAGS) -o requirements.lock pyproject.toml
	$(VENV)/bin/pip-compile $(LOCK_FLAGS) --extra train -o requirements-train.lock pyproject.toml
	$(VENV)/bin/pip-compile $(LOCK_FLAGS) --extra train --extra dev -o requirements-dev.lock pyproject.toml

# The artifact is built when missing (or when the data changes); `make train` always retrains.
$(ARTIFACT): data/heart.dat | $(VENV)/.installed
	$(PY) -m scripts.train --out $(ARTIFACT)

train: install
	$(PY) -m scripts.train --out $(ARTIFACT)

serve: $(ARTIFACT)
	MODEL_PATH=$(ARTIFACT) HOST=$(HOST) PORT=$(PORT) $(PY) -m app

# Repeated 10-fold cross-validation against the baselines -> reports/evaluation.md + plots.
evaluate: install
	$(PY) -m scripts.evaluate

# The grid search that chose NeuralNet's defaults -> reports/tuning.md.
tune: install
	$(PY) -m scripts.tune

# 30 s at 64 connections on /predict and /predict/batch, loopback only (needs Debian's wrk).
loadtest: $(ARTIFACT)
	command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
	MODEL_PATH=$(ARTIFACT) $(PY) -m benchmarks.loadtest

# This service against the ceiling, FastAPI + sklearn, MLServer and BentoML -> BENCHMARKS.md.
# Installs MLServer and BentoML into benchmarks/.envs/ the first time (a few minutes).
bench: $(ARTIFACT)
	command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
	MODEL_PATH=$(ARTIFACT) $(PY) -m benchmarks.bench

# Build the image with podman and check it from outside (root; what CI does).
container: install
	bash scripts/container_check.sh

# The KServe client tests run KServe's SDK in its own environment (tests/kserve/env.py).
test: install
	$(PY) -m tests.kserve.env >/dev/null
	$(PY) -m pytest

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy app model scripts benchmarks
	$(VENV)/bin/hadolint Dockerfile

clean:
	rm -rf artifacts .pytest_cache .mypy_cache .ruff_cache
