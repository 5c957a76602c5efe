"""Where a result came from: the servebench source commit, the host's CPU model and which boot of
which machine ran it.

A figure is only re-checkable against the code that produced it, so `run.json` and every benchmark's
JSON record the commit: `SERVEBENCH_COMMIT` when set (a copied tree, e.g. on a GPU host, may carry no
`.git` or a stale one: a device copy once reported the session's starting commit), else git's HEAD.
"""

from __future__ import annotations

import os
import subprocess
from functools import cache
from pathlib import Path

COMMIT_ENV = "SERVEBENCH_COMMIT"
_SOURCE = Path(__file__).resolve().parent.parent


@cache
def source_commit() -> str | None:
    """The commit of the servebench source in use (`+dirty` when it has uncommitted changes)."""
    if os.environ.get(COMMIT_ENV):
        return os.environ[COMMIT_ENV]
    try:
        head = subprocess.run(
            ["git", "-C", str(_SOURCE), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5
        )
        if head.returncode == 0 and head.stdout.strip():
            status = subprocess.run(
                ["git", "-C", str(_SOURCE), "status", "--porcelain", "--untracked-files=no"],
                capture_output=True,
                text=True,
                timeout=5,
            )
            dirty = "+dirty" if status.returncode == 0 and status.stdout.strip() else ""
            return head.stdout.strip() + dirty
    except (OSError, subprocess.SubprocessError):
        pass
    return None


def gpus() -> list[str]:
    """The host's NVIDIA GPUs as `name (N MiB)` from nvidia-smi; empty where there is none."""
    try:
        done = subprocess.run(
            ["nvidia-smi", "--query-gpu=name,memory.total", "--format=csv,noheader,nounits"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return []
    found = []
    for line in done.stdout.splitlines():
        name, _, memory = line.rpartition(",")
        if name.strip():
            found.append(f"{name.strip()} ({memory.strip()} MiB)")
    return found


@cache
def cpu_model() -> str | None:
    """The host CPU's model name (`/proc/cpuinfo`), None where it cannot be read."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


@cache
def boot_id() -> str | None:
    """This boot of this machine (`/proc/sys/kernel/random/boot_id`), None where it cannot be read.

    Two runs with one boot id ran on one machine without a reboot between them; a leased GPU machine
    is a fresh boot each lease. Runs pooled into an interval should share it: two H100 leases of one
    kind gave 19.4x and 28.0x for the same command (docs/results/2026-12-06c-claims-7b)."""
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip() or None
    except OSError:
        return None
