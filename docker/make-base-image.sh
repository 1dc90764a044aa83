#!/usr/bin/env bash
# Build a Debian bookworm base image with Python 3.11 without pulling from any registry:
# debootstrap from the configured Debian mirror, then `docker import`. The host's CA bundle goes
# along (HTTPS may be intercepted where this runs) and pip is pointed at it.
# Usage: docker/make-base-image.sh [TAG]   (default sentibench-base:bookworm; needs root, debootstrap, docker)
set -euo pipefail
tag=${1:-sentibench-base:bookworm}
mirror=${DEBIAN_MIRROR:-$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)}
mirror=${mirror:-http://deb.debian.org/debian}
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
started=$(date +%s)
debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates bookworm "$root" "$mirror" >/dev/null
cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/ca-certificates.crt"
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
tar -C "$root" -c . | docker import \
  --change 'ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt' \
  --change 'ENV LANG=C.UTF-8' \
  --change 'CMD ["bash"]' - "$tag" >/dev/null
echo "make-base-image: $tag in $(( $(date +%s) - started )) s, $(docker image inspect --format '{{.Size}}' "$tag" | awk '{printf "%.0f MB", $1/1e6}')"
