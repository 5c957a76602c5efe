#!/usr/bin/env bash
# Build .whl/: the cp312 manylinux wheels of benchmarks/gpu-host-wheels.txt, for the GPU host (no
# package index there). Run on a machine with PyPI; carry .whl in the device call that runs
# `benchmarks/gpu_host.sh install`. Usage: benchmarks/gpu_wheels.sh [LIST] [DEST]
set -euo pipefail
cd "$(dirname "$0")/.."
list=${1:-benchmarks/gpu-host-wheels.txt}
dest=${2:-.whl}
mapfile -t names < <(grep -v -E '^\s*(#|$)' "$list")
rm -rf "$dest" && mkdir -p "$dest"
if [ "${#names[@]}" -eq 0 ]; then
  echo "gpu_wheels: $list lists no package: nothing to carry besides the vLLM kit"
  exit 0
fi
plat=(--only-binary=:all: --python-version 3.12 --implementation cp)
for p in manylinux_2_28_x86_64 manylinux_2_17_x86_64 manylinux2014_x86_64 manylinux_2_27_x86_64 \
         manylinux_2_34_x86_64 manylinux_2_31_x86_64 manylinux_2_24_x86_64 manylinux1_x86_64 any; do
  plat+=(--platform "$p")
done
python3 -m pip download -q --no-deps "${plat[@]}" -d "$dest" "${names[@]}"
ls -l "$dest"
