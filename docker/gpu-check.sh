#!/usr/bin/env bash
# The GPU check in one command, build-free, for whoever has a GPU host (about 10 minutes on one H100-class
# GPU: the default pipeline from scratch, then its metrics held to the committed CPU ones). It uses the CUDA
# image when one is named and present (docker/build-cuda.sh made it), else this checkout's venv with PyPI's
# CUDA build of torch (`make setup TORCH=cuda`, made if missing). It prints the host, the GPU and the verdict,
# and writes them to docker/gpu-check.log: put that line into docs/results.md#gpu with the commit and date.
# Usage: docker/gpu-check.sh [IMAGE]        (exit 0: within tolerance; 1: outside; 2: could not run)
set -euo pipefail
cd "$(dirname "$0")/.."
image=${1:-}
log=docker/gpu-check.log
command -v nvidia-smi >/dev/null || { echo "gpu-check.sh: no nvidia-smi: this host has no NVIDIA driver" >&2; exit 2; }
started=$(date +%s)
{
  echo "gpu-check.sh: $(date -u +%FT%TZ), commit $(git rev-parse --short HEAD), $(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | head -1)"
  if [[ -n $image ]]; then
    docker image inspect "$image" >/dev/null 2>&1 || { echo "gpu-check.sh: image $image not found (docker/build-cuda.sh)"; exit 2; }
    [[ -x .venv/bin/sentibench ]] || make setup
    .venv/bin/sentibench gpu-check --docker "$image"
  else
    [[ -f .venv/.runtime-cuda ]] || make setup TORCH=cuda
    PATH="$PWD/.venv/bin:$PATH" .venv/bin/sentibench gpu-check
  fi
  echo "gpu-check.sh: done in $(( $(date +%s) - started )) s"
} 2>&1 | tee "$log"
exit "${PIPESTATUS[0]}"
