#!/usr/bin/env bash
# Fill the folder a Docker build installs from, so that the build itself needs no index (air-gapped
# builds: copy the folder over). Usage: docker/fetch-wheels.sh cpu|cuda
#   cpu   docker/wheels       from requirements/runtime.txt and torch-cpu.txt (torch from PyTorch's CPU index, or
#                             a wheel folder in pip's config)
#   cuda  docker/wheels-cuda  from runtime.txt and torch-cuda.txt, PyPI only (the CUDA 13.0 build), 2.6 GB
set -euo pipefail
cd "$(dirname "$0")/.."
case "${1:-}" in
  cpu) dest=docker/wheels locks=(--requirement requirements/runtime.txt) isolate=() ;;
  cuda) dest=docker/wheels-cuda locks=(--requirement requirements/runtime.txt --requirement requirements/torch-cuda.txt)
        isolate=(env -u PIP_FIND_LINKS -u PIP_EXTRA_INDEX_URL -u PIP_INDEX_URL PIP_CONFIG_FILE=/dev/null) ;;
  *) echo "usage: $0 cpu|cuda" >&2; exit 2 ;;
esac
started=$(date +%s)
# (this machine's pip config names index folders that may be missing: keep those warnings out of the log)
quiet() { "$@" 2> >(grep -v "^WARNING: Location .* is ignored" >&2); }
quiet "${isolate[@]}" python3 -m pip download --quiet --require-hashes --no-deps "${locks[@]}" --dest "$dest"
if [[ $1 == cpu ]]; then  # PyTorch's CPU index is asked for torch alone: it holds nothing else
  quiet python3 -m pip download --quiet --require-hashes --no-deps --dest "$dest" --retries 0 \
    --extra-index-url https://download.pytorch.org/whl/cpu --requirement requirements/torch-cpu.txt
fi
echo "fetch-wheels: $dest: $(find "$dest" -maxdepth 1 -type f | wc -l) files, $(du -sh "$dest" | cut -f1), $(( $(date +%s) - started )) s"
