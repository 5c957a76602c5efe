"""What a complete model directory holds, and how one is published atomically.

A directory is complete when its manifest (`servebench-model.json`, written last) and every file the
manifest lists exist. Builders write into a temporary sibling directory and rename it into place, so a
reader never sees a half-written model; a lock file keeps two builders from doing the work twice.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

MANIFEST_NAME = "servebench-model.json"
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json")


def is_complete(directory: Path) -> bool:
    """True when `directory` holds a manifest and every file it lists."""
    manifest_path = directory / MANIFEST_NAME
    try:
        manifest = json.loads(manifest_path.read_text())
    except (OSError, ValueError):
        return False
    files = manifest.get("files")
    if not isinstance(files, list) or not files:
        return False
    return all((directory / str(name)).is_file() for name in files)


def write_manifest(directory: Path, info: dict[str, Any]) -> None:
    """Write the manifest listing every file now in `directory` (call it last)."""
    files = sorted(p.name for p in directory.iterdir() if p.is_file() and p.name != MANIFEST_NAME)
    payload = {**info, "files": files}
    (directory / MANIFEST_NAME).write_text(json.dumps(payload, indent=2, sort_keys=True) + "\n")


@contextmanager
def _locked(target: Path) -> Iterator[None]:
    lock_path = target.parent / f".{target.name}.lock"
    with lock_path.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _make_readable(directory: Path) -> None:
    """mkdtemp and some writers create owner-only modes; containers may read as another user."""
    directory.chmod(0o755)
    for path in directory.iterdir():
        if path.is_file():
            path.chmod(0o644)


def build_atomically(target: Path, build: Callable[[Path], None]) -> bool:
    """Make `target` complete by running `build(tmp_dir)` and renaming; False if it already was.

    `build` must fill the temporary directory, manifest included. An incomplete `target` (left by an
    interrupted copy, say) is replaced.
    """
    target = target.resolve()
    if is_complete(target):
        return False
    target.parent.mkdir(parents=True, exist_ok=True)
    with _locked(target):
        if is_complete(target):
            return False
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
        try:
            build(tmp)
            if not is_complete(tmp):
                raise RuntimeError(f"building {target} left no complete model directory")
            _make_readable(tmp)
            if target.exists():
                stale = target.with_name(f".{target.name}.stale-{os.getpid()}")
                os.replace(target, stale)
                shutil.rmtree(stale, ignore_errors=True)
            os.replace(tmp, target)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
    return True
