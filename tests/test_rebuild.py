"""`loadgen report` on a SIGKILLed run rebuilds the missing level summaries from requests.jsonl."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from loadgen.rebuild import REBUILT_NOTE
from loadgen.report.data import load_report_data
from loadgen.results import RunWriter
from tests.fixtures.procs import REPO_ROOT, ServerProcess, run_loadgen
from tests.fixtures.sim import SimFactory


@pytest.fixture(scope="module")
def sim(sim_server_factory: SimFactory) -> Iterator[ServerProcess]:
    with sim_server_factory(ttft_ms=5, itl_ms=5, output_tokens=8) as server:
        yield server


def loadgen(*args: str) -> subprocess.CompletedProcess[str]:
    return run_loadgen(*args, timeout=120)


def killed_run(base_url: str, out: Path, prompts: Path, lines: int) -> None:
    """Start `loadgen run` at concurrency 2 then 4, SIGKILL it once `lines` records are on disk."""
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "loadgen",
            "run",
            "--base-url",
            base_url,
            "--model",
            "sim-model",
            "--dataset-path",
            str(prompts),
            "--concurrency",
            "2,4",
            "--num-requests",
            "30",
            "--max-tokens",
            "8",
            "--output-dir",
            str(out),
            "--no-progress",
        ],
        cwd=REPO_ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    path = out / "requests.jsonl"
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            if path.exists() and path.read_bytes().count(b"\n") >= lines:
                break
            time.sleep(0.01)
        else:
            raise AssertionError(f"fewer than {lines} records after 60 s")
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=10)


def test_report_rebuilds_the_levels_a_killed_run_did_not_summarize(
    sim: ServerProcess, tmp_path: Path
) -> None:
    prompts = tmp_path / "p.jsonl"
    prompts.write_text('{"prompt": "one"}\n{"prompt": "two"}\n')
    out = tmp_path / "run"
    killed_run(sim.base_url, out, prompts, lines=42)  # level 1 done (30), level 2 under way
    assert len(list(out.glob("summary-*.json"))) == 1  # the second level never got its summary

    proc = loadgen("report", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "1 level(s) rebuilt from a partial run" in proc.stdout
    markdown = (out / "report.md").read_text()
    assert REBUILT_NOTE in markdown and "concurrency=4" in markdown

    data = load_report_data([out])
    assert data.levels == ["concurrency=2", "concurrency=4"]
    rebuilt = data.series[0].summaries["concurrency=4"]
    assert rebuilt["rebuilt"] == REBUILT_NOTE and rebuilt["interrupted"] is True
    assert rebuilt["load"]["concurrency"] == 4
    records = [orjson.loads(line) for line in (out / "requests.jsonl").read_bytes().splitlines()]
    level_2 = [r for r in records if r["level"] == "concurrency=4" and not r["warmup"]]
    assert rebuilt["completed"] == sum(1 for r in level_2 if r["error_class"] is None) >= 1
    assert rebuilt["mean_ttft_ms"] > 0 and rebuilt["request_throughput"] > 0
    assert "rebuilt" not in data.series[0].summaries["concurrency=2"]


def test_report_exits_non_zero_only_when_nothing_can_be_rebuilt(tmp_path: Path) -> None:
    out = tmp_path / "empty"
    RunWriter(out, {"command": "loadgen run", "targets": [{"name": "t"}]}).sink.close()  # killed at once
    proc = loadgen("report", str(out))
    assert proc.returncode != 0
    assert proc.stderr.strip().startswith("loadgen: error: no measured level")
    assert len(proc.stderr.strip().splitlines()) == 1
