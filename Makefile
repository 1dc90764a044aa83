# Two commands do everything on a fresh clone: `make repro` (set-up, then `dvc repro`) and
# `make test` (set-up with the test tools, then lint and the test suite). Installs come from the locks by
# role in requirements/ (hash-pinned, no dependency resolution at install time); a venv is brought up to
# date when its lock changes. `make lock` regenerates the locks from pyproject.toml (requirements/lock.sh).
PYTHON ?= python3
VENV ?= .venv
HUB_VENV ?= .venv-hub
BIN := $(VENV)/bin
INSTALL := -m pip install --quiet --require-hashes --no-deps
# torch's build: cpu (PyTorch's CPU index; a local wheel folder in pip's config serves too) or cuda (PyPI's
# CUDA 13.0 build with its libraries, several GB). Both gave the same CPU bytes. The index is asked for torch
# alone: pip would ask it for every package, and it holds only PyTorch's.
TORCH ?= cpu
TORCH_INDEX_cpu := --extra-index-url https://download.pytorch.org/whl/cpu

.PHONY: setup setup-dev repro test lint lock
setup: $(VENV)/.runtime-$(TORCH)
setup-dev: $(VENV)/.dev $(HUB_VENV)/.installed

# (one stamp per build: switching TORCH reinstalls torch, and switching back does too)
$(VENV)/.runtime-$(TORCH): requirements/runtime.txt requirements/torch-$(TORCH).txt pyproject.toml
	rm -f $(VENV)/.runtime-*
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python $(INSTALL) $(TORCH_INDEX_$(TORCH)) --requirement requirements/torch-$(TORCH).txt
	$(BIN)/python $(INSTALL) --requirement requirements/runtime.txt
	$(BIN)/python -m pip install --quiet --no-deps --editable .
	touch $@

$(VENV)/.dev: $(VENV)/.runtime-$(TORCH) requirements/dev.txt
	$(BIN)/python $(INSTALL) --requirement requirements/dev.txt
	touch $@

# The local Hub server the tests start (olah): its own venv, its own psutil.
$(HUB_VENV)/.installed: requirements/hub.txt
	$(PYTHON) -m venv $(HUB_VENV)
	$(HUB_VENV)/bin/python $(INSTALL) --requirement requirements/hub.txt
	touch $@

repro: setup
	PATH="$(abspath $(BIN)):$$PATH" dvc repro

lint: setup-dev
	$(BIN)/ruff check src tests benchmark requirements
	PYTHONPATH=src $(BIN)/lint-imports
	$(BIN)/actionlint .github/workflows/ci.yml

test: lint
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/python -m pytest

lock: setup-dev
	UV=$(BIN)/uv requirements/lock.sh
