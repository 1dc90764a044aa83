#!/usr/bin/env bash
# Build the CUDA image and smoke-test it on the CPU (no GPU needed): a separate command, not part of CI,
# because the CUDA build of torch and its libraries are 2.8 GB of wheels and a 6 GB image. The build
# fails if torch has no CUDA; the smoke test checks the image's torch is a CUDA build that falls back to
# the CPU here, and that the `ci` profile run inside it matches the host run byte for byte.
# Usage: docker/build-cuda.sh      env: BASE_IMAGE, IMAGE (as for build-image.sh); then, on a GPU host,
#        sentibench gpu-check --docker sentibench:cuda
set -euo pipefail
cd "$(dirname "$0")/.."
image=${IMAGE:-sentibench:cuda}
docker/build-image.sh cuda
docker run --rm "$image" python -c "import torch; assert torch.version.cuda; \
print(f'build-cuda: torch {torch.__version__}, CUDA {torch.version.cuda}, GPU visible: {torch.cuda.is_available()}')"
.venv/bin/sentibench repro-check --profile ci --docker "$image"
