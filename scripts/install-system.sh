#!/usr/bin/env bash
# System packages the test suite drives for real: Prometheus, Chromium (web-UI tests), and Docker
# Engine, mmdebstrap and Compose v2 (the compose stack test; scripts/install-docker.sh). Installs only
# what is missing; needs root or sudo.
set -euo pipefail
missing=()
command -v prometheus >/dev/null 2>&1 || missing+=(prometheus)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
# scripts/install.sh creates .venv with `python3 -m venv`, which needs ensurepip (python3-venv on Debian).
python3 -c 'import ensurepip' >/dev/null 2>&1 || missing+=(python3-venv)
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo=sudo
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
bash "$(dirname "$0")/install-docker.sh" >/dev/null
