#!/usr/bin/env python3
"""Copy this machine's pip configuration into the Docker build context (docker/pip/), for builds that
must install from the package index the machine uses (a mirror, a proxy's CA) instead of pypi.org.

Writes docker/pip/pip.conf (what `pip config list` says, made to work inside a container), the CA
bundle pip trusts as docker/pip/ca.crt, and the wheels of local find-links folders into
docker/pip/wheels/ (hard links where possible). Local file:// indexes are left out: they are folders on
this machine, not reachable from a build. Nothing here is committed (.gitignore): the index address
never lands in the repository. The Dockerfiles use docker/pip/pip.conf when it exists and pypi.org
otherwise. Usage: scripts/docker-pip-context.py [--clean]
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlparse

CONTEXT = Path(__file__).resolve().parent.parent / "docker" / "pip"
IN_IMAGE = "/tmp/pip"
"""Where the Dockerfiles copy docker/pip/ to."""
KEEP = {"README.md"}
URL_KEYS = ("index-url", "extra-index-url", "find-links")
COPIED_KEYS = ("default-timeout", "timeout", "retries", "trusted-host")


def pip_config() -> dict[str, str]:
    """Effective pip settings, {key: value}; environment variables win over files, as pip does."""
    out = subprocess.run([sys.executable, "-m", "pip", "config", "list"], capture_output=True, text=True,
                         check=True).stdout
    files: dict[str, str] = {}
    env: dict[str, str] = {}
    for line in out.splitlines():
        scope_key, _, value = line.partition("=")
        scope, _, key = scope_key.rpartition(".")
        (env if scope == ":env:" else files)[key] = value.strip().strip("'\"")
    return {**files, **env}


def is_local(location: str) -> bool:
    """Whether a pip location is a path on this machine (file:// URL or plain path)."""
    return urlparse(location).scheme in ("", "file")


def local_path(location: str) -> Path:
    return Path(urlparse(location).path if location.startswith("file:") else location)


def clean() -> None:
    """Remove everything the last run wrote (docker/pip/ keeps only its README)."""
    for entry in CONTEXT.iterdir():
        if entry.name in KEEP:
            continue
        if entry.is_dir():
            shutil.rmtree(entry)
        else:
            entry.unlink()


def link_or_copy(source: Path, dest: Path) -> None:
    try:
        os.link(source, dest)
    except OSError:
        shutil.copy2(source, dest)


def main(argv: list[str]) -> int:
    clean()
    if argv[1:] == ["--clean"]:
        return 0
    config = pip_config()
    lines = ["[global]"]
    for key in ("index-url", "extra-index-url"):
        remote = [loc for loc in shlex.split(config.get(key, "")) if not is_local(loc)]
        if remote:
            lines.append(f"{key} = {' '.join(remote)}")
    wheels = CONTEXT / "wheels"
    for location in shlex.split(config.get("find-links", "")):
        if not is_local(location):
            lines.append(f"find-links = {location}")
            continue
        folder = local_path(location)
        for archive in sorted(folder.glob("*")) if folder.is_dir() else []:
            if archive.suffix in (".whl", ".gz", ".zip"):
                wheels.mkdir(exist_ok=True)
                link_or_copy(archive, wheels / archive.name)
    if wheels.is_dir():
        lines.append(f"find-links = {IN_IMAGE}/wheels")
    cert = config.get("cert") or os.environ.get("SSL_CERT_FILE") or os.environ.get("REQUESTS_CA_BUNDLE")
    if cert and Path(cert).is_file():
        shutil.copyfile(cert, CONTEXT / "ca.crt")
        lines.append(f"cert = {IN_IMAGE}/ca.crt")
    lines += [f"{key} = {config[key]}" for key in COPIED_KEYS if key in config]
    (CONTEXT / "pip.conf").write_text("\n".join(lines) + "\n")
    print(f"docker-pip-context: wrote {CONTEXT.relative_to(Path.cwd()) if CONTEXT.is_relative_to(Path.cwd()) else CONTEXT}"
          f" ({', '.join(sorted(p.name for p in CONTEXT.iterdir()))})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
