# Two commands from a fresh clone: `make serve` and `make test`.
# Every target creates .venv and installs the project into it when needed.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000
ARTIFACT ?= artifacts/model.pkl

.PHONY: install train serve test lint evaluate tune loadtest bench clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $@

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

test: install
	$(PY) -m pytest

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy app model scripts benchmarks

clean:
	rm -rf artifacts .pytest_cache .mypy_cache .ruff_cache
