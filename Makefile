# Two commands do everything on a fresh clone: `make repro` (set-up, then `dvc repro`) and
# `make test` (set-up, then lint and the test suite). The venv is rebuilt when the lock changes.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup repro test lint
setup: $(STAMP)

$(STAMP): requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --requirement requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps --editable .
	touch $(STAMP)

repro: setup
	PATH="$(abspath $(BIN)):$$PATH" dvc repro

lint: setup
	$(BIN)/ruff check src tests benchmark
	PYTHONPATH=src $(BIN)/lint-imports
	$(BIN)/actionlint .github/workflows/ci.yml

test: lint
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/python -m pytest
