"""Bad workload input ends `loadgen compare`, `demo` and `run` with one line and exit status 2, before
any server is started: a ShareGPT file with no usable conversation, a JSONL line without a prompt, a
length distribution that cannot be sampled."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.fixtures.model import model_dir_path
from tests.fixtures.procs import run_loadgen


def loadgen(*args: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    return run_loadgen(*args, timeout=120, env={"SERVEBENCH_CACHE_DIR": str(tmp_path / "cache")})


def one_line_error(proc: subprocess.CompletedProcess[str], message: str) -> None:
    """Exit 2, nothing started, and exactly one line on stderr that says `message`."""
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("loadgen: error: ") or lines[0].startswith("Error: "), lines
    assert message in lines[0], lines[0]
    assert "Traceback" not in proc.stderr and "starting" not in proc.stderr and proc.stdout == ""


@pytest.fixture(scope="module")
def model_dir() -> str:
    path = model_dir_path()
    if not (path / "config.json").is_file():
        pytest.skip("the SmolLM2 model directory is not built")
    return str(path)


def test_sharegpt_file_without_a_usable_conversation(model_dir: str, tmp_path: Path) -> None:
    empty = tmp_path / "empty.json"
    empty.write_text(json.dumps([{"conversations": [{"from": "human", "value": "no answer"}]}]))
    proc = loadgen(
        "compare",
        "--launch",
        "--model-dir",
        model_dir,
        "--workload",
        "sharegpt",
        "--dataset-path",
        str(empty),
        tmp_path=tmp_path,
    )
    one_line_error(proc, f"{empty}: no usable ShareGPT conversation")
    short = tmp_path / "short.json"
    pair = [{"from": "human", "value": "hi"}, {"from": "gpt", "value": "yo"}]
    short.write_text(json.dumps([{"conversations": pair}] * 3))
    proc = loadgen(
        "demo",
        "--model-dir",
        model_dir,
        "--workload",
        "sharegpt",
        "--dataset-path",
        str(short),
        tmp_path=tmp_path,
    )
    one_line_error(proc, "only 0 ShareGPT conversations pass the length filters")


def test_jsonl_line_without_a_prompt_names_the_line(model_dir: str, tmp_path: Path) -> None:
    path = tmp_path / "prompts.jsonl"
    path.write_text('{"prompt": "fine", "max_tokens": 4}\n{"max_tokens": 5}\n')
    proc = loadgen(
        "compare", "--launch", "--model-dir", model_dir, "--dataset-path", str(path), tmp_path=tmp_path
    )
    one_line_error(proc, f'{path}:2: expected exactly one of "prompt" or "messages"')


@pytest.mark.parametrize(
    ("command", "spec", "message"),
    [
        ("compare", "exponential:64,32", "MAX must be at least the MEAN"),
        ("demo", "uniform:9,3", "LO must not exceed HI"),
        ("run", "normal:10,-1", "cannot be negative"),
        ("run", "gamma:3", "expected fixed:N | uniform:LO,HI"),
    ],
)
def test_length_distribution_that_cannot_be_sampled(
    model_dir: str, tmp_path: Path, command: str, spec: str, message: str
) -> None:
    where = ["--sim"] if command == "run" else ["--model-dir", model_dir]
    if command == "compare":
        where.insert(0, "--launch")
    proc = loadgen(command, *where, "--output-len-dist", spec, tmp_path=tmp_path)
    one_line_error(proc, message)


def test_length_distribution_needs_the_synthetic_workload(model_dir: str, tmp_path: Path) -> None:
    path = tmp_path / "prompts.jsonl"
    path.write_text('{"prompt": "fine"}\n')
    proc = loadgen(
        "compare",
        "--launch",
        "--model-dir",
        model_dir,
        "--dataset-path",
        str(path),
        "--output-len-dist",
        "fixed:3",
        tmp_path=tmp_path,
    )
    one_line_error(proc, "--output-len-dist applies to the synthetic workload only")
    proc = loadgen(
        "compare",
        "--launch",
        "--model-dir",
        model_dir,
        "--dataset-path",
        str(path),
        "--sweep",
        "output-variance",
        tmp_path=tmp_path,
    )
    one_line_error(proc, "--sweep output-variance sets the output lengths itself")


def test_variance_spreads_takes_known_spreads_only(model_dir: str, tmp_path: Path) -> None:
    proc = loadgen(
        "compare",
        "--launch",
        "--model-dir",
        model_dir,
        "--sweep",
        "output-variance",
        "--variance-spreads",
        "fixed,wide",
        tmp_path=tmp_path,
    )
    one_line_error(proc, "takes comma-separated words from fixed, uniform, exponential")
    proc = loadgen(
        "compare", "--launch", "--model-dir", model_dir, "--variance-spreads", "fixed", tmp_path=tmp_path
    )
    one_line_error(proc, "--variance-spreads picks the levels of --sweep output-variance")
