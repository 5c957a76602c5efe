"""docker/model-init.sh, the compose one-shot that puts the model both servers load in place.

Run for real with bash; the Hugging Face branch uses the real huggingface_hub against a cache laid out
the way the hub writes it (offline, as no download is possible here); `hf-server prepare-model` is
stood in for by a script that records its arguments, as the real build is tested with the HF server.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.fixtures.procs import REPO_ROOT

SCRIPT = REPO_ROOT / "docker" / "model-init.sh"


def run_init(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """Run the script with MODELS_ROOT and HF_HOME under tmp_path and a recording `hf-server` on PATH."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    fake = bin_dir / "hf-server"
    fake.write_text(
        '#!/bin/sh\necho "$@" >> "$(dirname "$0")/calls"\nmkdir -p "$2" && echo {} > "$2/config.json"\n'
    )
    fake.chmod(0o755)
    full_env = {
        "PATH": f"{bin_dir}:{Path(sys.executable).parent}:{os.environ['PATH']}",
        "MODELS_ROOT": str(tmp_path / "models"),
        "HF_HOME": str(tmp_path / "hf"),
        "HF_HUB_OFFLINE": "1",
        **env,
    }
    (tmp_path / "models").mkdir(exist_ok=True)
    return subprocess.run(["bash", str(SCRIPT)], env=full_env, capture_output=True, text=True, timeout=60)


def prepare_calls(tmp_path: Path) -> list[str]:
    calls = tmp_path / "bin" / "calls"
    return calls.read_text().splitlines() if calls.exists() else []


def test_default_model_is_built_with_prepare_model(tmp_path: Path) -> None:
    result = run_init(tmp_path, MODEL="default", SERVED_MODEL_NAME="SmolLM2-135M-Instruct")
    assert result.returncode == 0, result.stderr
    dest = tmp_path / "models" / "SmolLM2-135M-Instruct"
    assert prepare_calls(tmp_path) == [f"prepare-model {dest}"]
    assert (dest / "config.json").is_file()


def test_an_existing_model_is_kept_and_not_rebuilt(tmp_path: Path) -> None:
    dest = tmp_path / "models" / "m"
    dest.mkdir(parents=True)
    (dest / "config.json").write_text("{}")
    result = run_init(tmp_path, MODEL="default", SERVED_MODEL_NAME="m")
    assert result.returncode == 0, result.stderr
    assert "is ready" in result.stdout
    assert prepare_calls(tmp_path) == []


def fake_hub_snapshot(hf_home: Path, repo: str, commit: str) -> Path:
    """A model in the Hugging Face cache as the hub lays it out: refs/main -> snapshots/<commit>."""
    root = hf_home / "hub" / f"models--{repo.replace('/', '--')}"
    snapshot = root / "snapshots" / commit
    snapshot.mkdir(parents=True)
    (snapshot / "config.json").write_text('{"model_type": "llama"}')
    (root / "refs").mkdir()
    (root / "refs" / "main").write_text(commit)
    return snapshot


def test_hub_model_is_linked_from_the_shared_cache(tmp_path: Path) -> None:
    snapshot = fake_hub_snapshot(tmp_path / "hf", "acme/tiny-llama", "0123456789abcdef" * 2 + "01234567")
    result = run_init(tmp_path, MODEL="acme/tiny-llama", SERVED_MODEL_NAME="tiny")
    assert result.returncode == 0, result.stderr
    dest = tmp_path / "models" / "tiny"
    assert dest.is_symlink() and dest.resolve() == snapshot.resolve()
    assert prepare_calls(tmp_path) == []


def test_a_hub_model_that_cannot_be_fetched_fails(tmp_path: Path) -> None:
    result = run_init(tmp_path, MODEL="acme/not-in-cache", SERVED_MODEL_NAME="x")
    assert result.returncode != 0
    assert not (tmp_path / "models" / "x").exists()


def test_served_name_with_a_slash_is_refused(tmp_path: Path) -> None:
    result = run_init(tmp_path, MODEL="default", SERVED_MODEL_NAME="org/name")
    assert result.returncode == 2
    assert "must be a plain name" in result.stderr


def test_a_directory_without_config_is_not_overwritten(tmp_path: Path) -> None:
    (tmp_path / "models" / "half").mkdir(parents=True)
    result = run_init(tmp_path, MODEL="default", SERVED_MODEL_NAME="half")
    assert result.returncode == 1
    assert "holds no config.json" in result.stderr
    assert prepare_calls(tmp_path) == []
