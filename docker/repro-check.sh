#!/usr/bin/env bash
# The container reproduction check in one command: build the CPU image (docker/build-image.sh), run the
# small `ci` profile inside it and on the host, and compare every quality output byte for byte
# (differences are printed per file and key); reports the image's id and size. Needs a running Docker
# engine, debootstrap for the local base, and the venv (`make setup`).
# Usage: docker/repro-check.sh      env: BASE_IMAGE, IMAGE (as for build-image.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
docker/build-image.sh cpu
.venv/bin/sentibench repro-check --profile ci --docker "${IMAGE:-sentibench:cpu}"
