#!/usr/bin/env bash
# Build the CUDA image and prove it as far as a CPU can (no GPU needed): a separate command, not part of CI,
# because the CUDA build of torch and its libraries are 2.8 GB of wheels and a 6 GB image. The build
# fails if torch has no CUDA; then the image's torch must be a CUDA build that falls back to the CPU here,
# and the `ci` profile run inside it, on this CPU, must reproduce golden/ci.json byte for byte (`verify
# --docker`; its certificate, in docker/cuda-certificate/, goes into the ledger as the image's own row:
# `sentibench ledger --add docker/cuda-certificate/certificate.json`). On a fresh clone the host's venv
# (`make setup`) is made first: it runs verify.
# Usage: docker/build-cuda.sh      env: BASE_IMAGE, IMAGE (as for build-image.sh); then, on a GPU host,
#        docker/gpu-check.sh (build-free: this image or `make setup TORCH=cuda`, then sentibench gpu-check)
set -euo pipefail
cd "$(dirname "$0")/.."
image=${IMAGE:-sentibench:cuda}
docker/build-image.sh cuda
docker run --rm "$image" python -c "import torch; assert torch.version.cuda; \
print(f'build-cuda: torch {torch.__version__}, CUDA {torch.version.cuda}, GPU visible: {torch.cuda.is_available()}')"
[[ -x .venv/bin/sentibench ]] || make setup
.venv/bin/sentibench verify --profile ci --docker "$image" --report docker/cuda-certificate
