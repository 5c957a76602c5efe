#!/usr/bin/env bash
# Make the local base image the CPU stack's Dockerfiles build FROM where no registry can be reached:
# Debian bookworm (minbase) with Python 3.11 and venv, from the machine's apt sources (mmdebstrap),
# imported into Docker. Its tag is a hash of this recipe, so a second call finds it and does nothing.
# Prints the tag. Usage: scripts/docker-base-image.sh [REPOSITORY]   (default local/servebench-base)
set -euo pipefail
repo=${1:-local/servebench-base}
suite=bookworm
packages=python3,python3-venv,ca-certificates
tag="$repo:$suite-$(printf '%s\n' "$suite" "$packages" "minbase" | sha256sum | cut -c1-12)"
if docker image inspect "$tag" >/dev/null 2>&1; then
  echo "$tag"
  exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mmdebstrap --quiet --variant=minbase --include="$packages" \
  --customize-hook='chroot "$1" apt-get clean' --customize-hook='rm -rf "$1"/var/lib/apt/lists/*' \
  "$suite" "$tmp/rootfs.tar" >&2
docker import --change 'CMD ["/bin/bash"]' --change 'ENV LANG=C.UTF-8' "$tmp/rootfs.tar" "$tag" >&2
echo "$tag"
