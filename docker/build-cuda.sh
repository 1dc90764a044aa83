#!/usr/bin/env bash
# Build the CUDA image and smoke-test it on the CPU (no GPU needed): a separate command, not part of CI,
# because the CUDA build of torch and its libraries are 2.8 GB of wheels and a 6 GB image.
#   1. docker/fetch-wheels.sh cuda (downloads only what docker/wheels-cuda lacks)
#   2. build docker/Dockerfile.cuda (on the local debootstrap base unless BASE_IMAGE names another);
#      the build itself fails if torch has no CUDA
#   3. smoke test: the image's torch is a CUDA build that falls back to the CPU here, and the `ci`
#      profile run inside it matches the host run byte for byte (repro-check --docker)
# Usage: docker/build-cuda.sh      env: BASE_IMAGE, IMAGE (default sentibench:cuda); then, on a GPU host,
#        sentibench gpu-check --docker sentibench:cuda
set -euo pipefail
cd "$(dirname "$0")/.."
DOCKER=${DOCKER:-$(command -v /usr/bin/docker docker | head -1)}
image=${IMAGE:-sentibench:cuda}
if [[ -z "${BASE_IMAGE:-}" ]]; then
  BASE_IMAGE=sentibench-base:bookworm
  "$DOCKER" image inspect "$BASE_IMAGE" >/dev/null 2>&1 || docker/make-base-image.sh "$BASE_IMAGE"
fi
docker/fetch-wheels.sh cuda
started=$(date +%s)
DOCKER_BUILDKIT=1 "$DOCKER" build --quiet -f docker/Dockerfile.cuda --build-arg BASE_IMAGE="$BASE_IMAGE" -t "$image" . >/dev/null
echo "build-cuda: built $image on $BASE_IMAGE in $(( $(date +%s) - started )) s"
"$DOCKER" run --rm "$image" python -c "import torch; assert torch.version.cuda; \
print(f'build-cuda: torch {torch.__version__}, CUDA {torch.version.cuda}, GPU visible: {torch.cuda.is_available()}')"
.venv/bin/sentibench repro-check --profile ci --docker "$image"
