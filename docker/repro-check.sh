#!/usr/bin/env bash
# The container reproduction check in one command: build the CPU image (on the local debootstrap base
# unless BASE_IMAGE names another), run the small `ci` profile inside it and on the host, and compare
# every quality output byte for byte (differences are printed per file and key). Reports the image's id
# and size. Needs a running Docker engine, debootstrap for the local base, and the venv (`make setup`).
# Usage: docker/repro-check.sh      env: BASE_IMAGE (default: a local base, made if missing), IMAGE
set -euo pipefail
cd "$(dirname "$0")/.."
# Debian's client: its `docker build` runs BuildKit without the buildx plugin that newer clients need.
DOCKER=${DOCKER:-$(command -v /usr/bin/docker docker | head -1)}
image=${IMAGE:-sentibench:cpu}
if [[ -z "${BASE_IMAGE:-}" ]]; then
  BASE_IMAGE=sentibench-base:bookworm
  "$DOCKER" image inspect "$BASE_IMAGE" >/dev/null 2>&1 || docker/make-base-image.sh "$BASE_IMAGE"
fi
docker/fetch-wheels.sh cpu
started=$(date +%s)
DOCKER_BUILDKIT=1 "$DOCKER" build --quiet -f docker/Dockerfile.cpu --build-arg BASE_IMAGE="$BASE_IMAGE" -t "$image" . >/dev/null
echo "repro-check: built $image on $BASE_IMAGE in $(( $(date +%s) - started )) s"
.venv/bin/sentibench repro-check --profile ci --docker "$image"
