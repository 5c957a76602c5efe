"""scripts/install.sh refuses, in one line, a disk too full for a new .venv."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def test_install_refuses_a_disk_too_full_for_the_venv_in_one_line(tmp_path: Path) -> None:
    checkout = tmp_path / "checkout"
    (checkout / "scripts").mkdir(parents=True)
    shutil.copy(REPO_ROOT / "scripts/install.sh", checkout / "scripts/install.sh")
    result = subprocess.run(
        ["bash", "scripts/install.sh"],
        cwd=checkout,
        env={"PATH": "/usr/bin:/bin", "SERVEBENCH_INSTALL_NEED_MB": str(10**12)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("install: ") and "MB free on the disk holding" in lines[0]
    assert f"needs about {10**12} MB" in lines[0]
    assert not (checkout / ".venv").exists()
