#!/usr/bin/env bash
# Regenerate the locks by role from pyproject.toml with uv (arguments go to uv, e.g. --upgrade-package): every wheel pinned by version and SHA-256, for
# CPython 3.11 on Linux x86-64. Run after changing a dependency: `make lock` (uv comes with the dev lock).
#   runtime.txt    [project.dependencies] but torch: what `make repro`, the stages and both images install.
#   torch-cpu.txt  torch 2.13.0+cpu, from PyTorch's CPU index (or a local wheel folder): the default.
#   torch-cuda.txt torch 2.13.0 from PyPI, which is the CUDA 13.0 build, with the libraries it adds (the CUDA
#                  image; `make setup TORCH=cuda`). Both builds gave the same CPU bytes
#                  (shared/evidence/cross-vendor.md, ledger/).
#   dev.txt        the `test` extra (pytest, lint, the locker), installed beside runtime.txt.
#   uv.txt         uv alone (its pin in dev.txt): the set-up installs it first with pip, then the other locks with it.
#   hub.txt        olah, the local Hub server tests start, in its own venv: its fastapi-utils needs psutil<6,
#                  and the runtime's psutil stays the version the runtime resolves to.
# env: TORCH_CPU_WHEELS, a folder or index page holding torch-2.13.0+cpu (default: PyTorch's CPU index).
set -euo pipefail
cd "$(dirname "$0")/.."
uv=("${UV:-.venv/bin/uv}" pip compile --quiet --generate-hashes --python-version 3.11
    --python-platform x86_64-manylinux_2_28 --no-header --no-config)
cpu_wheels=${TORCH_CPU_WHEELS:-https://download.pytorch.org/whl/cpu/torch/}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# uv keeps the versions an existing output file pins (the bytes were recorded with them); `--upgrade` moves them
cat requirements/runtime.txt requirements/torch-cpu.txt > "$tmp/runtime.txt" 2>/dev/null || true
cat requirements/runtime.txt requirements/torch-cuda.txt > "$tmp/pypi.txt" 2>/dev/null || true
cp requirements/dev.txt "$tmp/dev.txt" 2>/dev/null || true
"${uv[@]}" "$@" pyproject.toml --find-links "$cpu_wheels" -o "$tmp/runtime.txt"
"${uv[@]}" "$@" pyproject.toml -o "$tmp/pypi.txt"
"${uv[@]}" "$@" pyproject.toml --extra test --constraint "$tmp/runtime.txt" --find-links "$cpu_wheels" -o "$tmp/dev.txt"
"${uv[@]}" "$@" requirements/hub.in -o requirements/hub.txt
python3 requirements/compose.py "$tmp/runtime.txt" "$tmp/pypi.txt" "$tmp/dev.txt" requirements
echo "lock: $(grep -c '==' requirements/runtime.txt) runtime, $(grep -c '==' requirements/torch-cuda.txt) torch-cuda," \
  "$(grep -c '==' requirements/dev.txt) dev, $(grep -c '==' requirements/hub.txt) hub pins"
