"""`loadgen run` end to end, and bad arguments answered with one line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from loadgen.results import load_run
from tests.fixtures.procs import REPO_ROOT, ServerProcess, run_loadgen


def loadgen(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return run_loadgen(*args, timeout=timeout)


@pytest.fixture(scope="module")
def prompts_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("prompts") / "prompts.jsonl"
    path.write_text("".join(orjson.dumps({"prompt": f"question {i}?"}).decode() + "\n" for i in range(3)))
    return path


def test_run_writes_records_summaries_and_prints_the_table(
    sim_server: ServerProcess, prompts_file: Path, tmp_path: Path
) -> None:
    out = tmp_path / "run"
    proc = loadgen(
        "run",
        "--base-url",
        sim_server.base_url,
        "--dataset-path",
        str(prompts_file),
        "--concurrency",
        "1,2",
        "--num-requests",
        "4",
        "--max-tokens",
        "8",
        "--output-dir",
        str(out),
        "--slo",
        "ttft:5000",
        "--percentiles",
        "50,99.9",
    )
    assert proc.returncode == 0, proc.stderr
    assert "concurrency=1" in proc.stdout and "concurrency=2" in proc.stdout and "TTFT" in proc.stdout
    run = load_run(out)
    assert [s["level"] for s in run.summaries] == ["concurrency=1", "concurrency=2"]
    assert all(s["completed"] == 4 and "p99.9_ttft_ms" in s and s["request_goodput"] for s in run.summaries)
    assert run.meta["targets"][0]["model"] == "sim-model" and run.meta["finished_at"]
    assert "loadgen run" in run.meta["command"] or "loadgen" in run.meta["command"]
    assert len(run.records()) == 8 and set(run.records_by_level()) == {
        ("127.0.0.1:" + str(sim_server.port), lvl) for lvl in ("concurrency=1", "concurrency=2")
    }


def test_open_loop_run_with_embedded_scripted_server(prompts_file: Path, tmp_path: Path) -> None:
    proc = loadgen(
        "run",
        "--sim",
        "--sim-arg",
        "--ttft-ms 5 --itl-ms 1",
        "--dataset-path",
        str(prompts_file),
        "--rate",
        "50",
        "--num-requests",
        "5",
        "--max-tokens",
        "4",
        "--output-dir",
        str(tmp_path / "r"),
        "--no-progress",
    )
    assert proc.returncode == 0, proc.stderr
    summary = load_run(tmp_path / "r").summaries[0]
    assert summary["target"] == "sim" and summary["level"] == "rate=50" and summary["completed"] == 5


def test_help_is_fast_and_imports_nothing_heavy() -> None:
    code = (
        "import sys, loadgen.cli; heavy = {'numpy', 'httpx', 'prometheus_client', 'torch', 'tokenizers'}"
        " & set(sys.modules); print(sorted(heavy))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO_ROOT, timeout=30
    )
    assert proc.stdout.strip() == "[]"
    assert loadgen("run", "--help").returncode == 0


@pytest.mark.parametrize(
    "args",
    [
        ["run"],
        ["run", "--base-url", "http://127.0.0.1:9", "--concurrency", "abc"],
        ["run", "--base-url", "http://127.0.0.1:9", "--concurrency", "1", "--rate", "2"],
        ["run", "--base-url", "http://127.0.0.1:9", "--extra-body", "{bad"],
        ["run", "--base-url", "http://127.0.0.1:9", "--percentiles", "150"],
        ["run", "--base-url", "http://127.0.0.1:9", "--slo", "speed:1"],
        ["run", "--base-url", "http://127.0.0.1:9", "--api", "nope"],
        ["run", "--base-url", "http://127.0.0.1:9", "--no-such-option"],
        ["run", "--base-url", "http://127.0.0.1:9", "--concurrency", "0"],
        ["run", "--base-url", "http://127.0.0.1:9", "--header", "no-colon"],
        ["run", "--base-url", "http://127.0.0.1:9", "--dataset-path", "/no/such/file.jsonl"],
        ["run", "--base-url", "localhost:9", "--model", "m", "--dataset-path", "PROMPTS"],
        ["run", "--base-url", "http://127.0.0.1:9", "--dataset-path", "PROMPTS"],
        ["no-such-command"],
    ],
)
def test_bad_arguments_get_one_line_and_exit_2(args: list[str], prompts_file: Path) -> None:
    proc = loadgen(*[str(prompts_file) if a == "PROMPTS" else a for a in args])
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("loadgen: error:") and "Traceback" not in proc.stderr
