#!/usr/bin/env bash
# Build sentibench's CPU or CUDA image from local wheels: the base (the local debootstrap one, made if
# missing, unless BASE_IMAGE names another), the wheel folder (docker/fetch-wheels.sh: downloads only
# what is missing), then `docker build`. Prints the build time; IMAGE defaults to sentibench:cpu|cuda.
# Usage: docker/build-image.sh cpu|cuda
set -euo pipefail
cd "$(dirname "$0")/.."
flavour=${1:-}
[[ $flavour == cpu || $flavour == cuda ]] || { echo "usage: $0 cpu|cuda" >&2; exit 2; }
# Debian's client: its `docker build` runs BuildKit without the buildx plugin that newer clients need.
DOCKER=${DOCKER:-$(command -v /usr/bin/docker docker | head -1)}
image=${IMAGE:-sentibench:$flavour}
if [[ -z "${BASE_IMAGE:-}" ]]; then
  BASE_IMAGE=sentibench-base:bookworm
  "$DOCKER" image inspect "$BASE_IMAGE" >/dev/null 2>&1 || docker/make-base-image.sh "$BASE_IMAGE"
fi
docker/fetch-wheels.sh "$flavour"
started=$(date +%s)
DOCKER_BUILDKIT=1 "$DOCKER" build --quiet -f "docker/Dockerfile.$flavour" --build-arg BASE_IMAGE="$BASE_IMAGE" \
  -t "$image" . >/dev/null
echo "build-image: $image on $BASE_IMAGE in $(( $(date +%s) - started )) s"
