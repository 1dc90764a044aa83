# Two commands do everything on a fresh clone: `make repro` (set-up, then `dvc repro`) and
# `make test` (set-up with the test tools, then lint and the test suite). Installs come from the locks by
# role in requirements/ (hash-pinned, no dependency resolution at install time); a venv is brought up to
# date when its lock changes. `make lock` regenerates the locks from pyproject.toml (requirements/lock.sh).
PYTHON ?= python3
VENV ?= .venv
HUB_VENV ?= .venv-hub
BIN := $(VENV)/bin
# Installs go through uv (parallel downloads, hash-checked: `uv pip install --require-hashes`), which pip puts into
# the venv first from its own lock (requirements/uv.txt); where uv cannot install (an index it cannot reach, a
# platform without its wheel, a wheel folder only pip's config names), pip does, and says so. One attempt at an
# unreachable index, not pip's five retries or uv's three.
INSTALL := -m pip install --quiet --require-hashes --no-deps --retries 0
install = UV_HTTP_RETRIES=0 $(BIN)/uv pip install --quiet --python $(BIN)/python --require-hashes --no-deps $(1) \
	|| { echo "setup: uv could not install $(2): pip installs it"; $(BIN)/python $(INSTALL) $(1); }
# torch's build: cpu (PyTorch's CPU index; a local wheel folder in pip's config serves too) or cuda (PyPI's
# CUDA 13.0 build with its libraries, several GB). Both gave the same CPU bytes. The index is asked for torch
# alone: pip would ask it for every package, and it holds only PyTorch's.
TORCH ?= cpu
TORCH_INDEX_cpu := --extra-index-url https://download.pytorch.org/whl/cpu

.PHONY: setup setup-dev repro test lint lock
setup: $(VENV)/.runtime-$(TORCH)
setup-dev: $(VENV)/.dev $(HUB_VENV)/.installed

# (one stamp per build: switching TORCH reinstalls torch, and switching back does too)
$(VENV)/.runtime-$(TORCH): requirements/runtime.txt requirements/torch-$(TORCH).txt requirements/uv.txt pyproject.toml
	rm -f $(VENV)/.runtime-*
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python $(INSTALL) --requirement requirements/uv.txt || echo "setup: no uv for this platform: pip installs"
	$(call install,$(TORCH_INDEX_$(TORCH)) --requirement requirements/torch-$(TORCH).txt,torch)
	$(call install,--requirement requirements/runtime.txt,the runtime)
	$(BIN)/python -m pip install --quiet --no-deps --editable .
	touch $@

$(VENV)/.dev: $(VENV)/.runtime-$(TORCH) requirements/dev.txt
	$(call install,--requirement requirements/dev.txt,the test tools)
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
