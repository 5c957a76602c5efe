"""A killed or interrupted run keeps every finished request, line by line, and Ctrl-C still summarizes."""

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

from loadgen.results import load_run
from tests.fixtures.procs import REPO_ROOT, ServerProcess
from tests.fixtures.sim import SimFactory


@pytest.fixture(scope="module")
def slow_sim(sim_server_factory: SimFactory) -> Iterator[ServerProcess]:
    with sim_server_factory(ttft_ms=5, itl_ms=5, output_tokens=30) as server:
        yield server


def start_run(base_url: str, out: Path, prompts: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "loadgen",
            "run",
            "--base-url",
            base_url,
            "--dataset-path",
            str(prompts),
            "--concurrency",
            "4",
            "--num-requests",
            "100000",
            "--max-tokens",
            "30",
            "--output-dir",
            str(out),
            "--no-progress",
        ],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def wait_lines(path: Path, n: int, timeout_s: float = 30) -> int:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if path.exists():
            count = path.read_bytes().count(b"\n")
            if count >= n:
                return count
        time.sleep(0.05)
    raise AssertionError(f"fewer than {n} lines in {path} after {timeout_s} s")


@pytest.fixture
def prompts(tmp_path: Path) -> Path:
    path = tmp_path / "p.jsonl"
    path.write_text('{"prompt": "one"}\n{"prompt": "two"}\n')
    return path


def test_kill_9_mid_run_leaves_only_whole_lines(
    slow_sim: ServerProcess, tmp_path: Path, prompts: Path
) -> None:
    out = tmp_path / "run"
    proc = start_run(slow_sim.base_url, out, prompts)
    try:
        seen = wait_lines(out / "requests.jsonl", 12)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.communicate(timeout=10)  # reaps it and closes its pipes
    lines = (out / "requests.jsonl").read_bytes().splitlines(keepends=True)
    assert len(lines) >= seen
    assert all(line.endswith(b"\n") for line in lines)
    records = [orjson.loads(line) for line in lines]
    assert all(r["ok"] if "ok" in r else r["error_class"] is None for r in records)
    assert len({r["index"] for r in records}) == len(records)


def test_sigint_stops_records_in_flight_as_cancelled_and_writes_the_summary(
    slow_sim: ServerProcess, tmp_path: Path, prompts: Path
) -> None:
    out = tmp_path / "run"
    proc = start_run(slow_sim.base_url, out, prompts)
    try:
        wait_lines(out / "requests.jsonl", 8)
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, stderr
    run = load_run(out)
    assert run.meta["interrupted"] is True and run.meta["finished_at"]
    assert len(run.summaries) == 1 and run.summaries[0]["interrupted"] is True
    records = run.records()
    cancelled = [r for r in records if r.error_class == "cancelled"]
    assert 1 <= len(cancelled) <= 4
    assert run.summaries[0]["errors"].get("cancelled") == len(cancelled)
    assert run.summaries[0]["completed"] == len(records) - len(cancelled)


def test_sigterm_stops_a_comparison_as_ctrl_c_does(
    sim_server_factory: SimFactory, tmp_path: Path, prompts: Path
) -> None:
    # `timeout` (gpu_host.sh's STEP_TIMEOUT) sends SIGTERM: the comparison must end as a stopped one,
    # with its summaries and report, not die with only the records it had streamed.
    out = tmp_path / "run"
    with (
        sim_server_factory(ttft_ms=5, itl_ms=5, output_tokens=30, model="m") as a,
        sim_server_factory(ttft_ms=5, itl_ms=10, output_tokens=30, model="m") as b,
    ):
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "loadgen",
                "compare",
                f"a={a.base_url}",
                f"b={b.base_url}",
                "--workload",
                "jsonl",
                "--dataset-path",
                str(prompts),
                "--concurrency",
                "4",
                "--num-requests",
                "100000",
                "--output-len",
                "30",
                "--offline-batches",
                "none",
                "--parity",
                "report",
                "--output-dir",
                str(out),
                "--no-progress",
            ],  # fmt: skip
            cwd=REPO_ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        try:
            wait_lines(out / "requests.jsonl", 8)
            proc.send_signal(signal.SIGTERM)
            stdout, stderr = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
    assert proc.returncode >= 0, stderr  # exited, not killed by the signal
    assert b"stopping (SIGTERM)" in stdout + stderr
    run = load_run(out)
    assert run.meta["interrupted"] is True and run.meta["finished_at"]
    assert run.summaries and run.summaries[0]["interrupted"] is True
    assert (out / "report.md").is_file()
    cancelled = [r for r in run.records() if r.error_class == "cancelled"]
    assert 1 <= len(cancelled) <= 4
