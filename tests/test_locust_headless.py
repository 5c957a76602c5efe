"""locust run headless against the scripted server: its statistics checked against the server's truth.

One run (4 users, a few seconds) is shared by the tests that read it; the sweep, fault and
bad-argument tests start their own.
"""

from __future__ import annotations

import csv
import statistics
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from loadgen import errors
from tests.fixtures.locust import (
    SWEEPFILE,
    LocustRun,
    locust_command,
    locust_env,
    run_locust,
    workload_args,
)
from tests.fixtures.procs import REPO_ROOT, ServerProcess
from tests.fixtures.sim import SimFactory, fetch_truth

USERS = 4
MS = 1_000_000


@pytest.fixture(scope="module")
def timed_sim(sim_server_factory: SimFactory) -> Iterator[ServerProcess]:
    """TTFT 60 ms, 8 ms per token: slow enough that timing errors stand out."""
    with sim_server_factory(ttft_ms=60, itl_ms=8, output_tokens=16) as server:
        yield server


@pytest.fixture(scope="module")
def headless_run(
    timed_sim: ServerProcess, jsonl_prompts: Path, tmp_path_factory: pytest.TempPathFactory
) -> LocustRun:
    """`locust --headless -u 4 -r 4 --run-time 5s --json --csv` with results written."""
    results_root = tmp_path_factory.mktemp("locust-results")
    csv_prefix = results_root / "csv" / "run"  # no run.json there: not taken for a results run
    run = run_locust(
        [
            "--csv",
            str(csv_prefix),
            "--headless",
            "-u",
            str(USERS),
            "-r",
            str(USERS),
            "--run-time",
            "5s",
            "--json",
            "--host",
            timed_sim.base_url,
            *workload_args(jsonl_prompts),
        ],
        results_root=results_root,
    )
    assert run.returncode == 0, run.stderr[-4000:]
    return run


def test_headless_run_reports_request_ttft_itl_and_tpot_entries(headless_run: LocustRun) -> None:
    post = headless_run.entry("POST")
    assert post["name"] == "/v1/completions"  # --api's default, as on `loadgen run`
    assert post["num_requests"] >= USERS * 2 and post["num_failures"] == 0
    for kind in ("TTFT", "ITL", "TPOT"):
        entry = headless_run.entry(kind)
        assert entry["name"] == post["name"]
        assert entry["num_requests"] == post["num_requests"], kind
    assert post["total_content_length"] == 12 * post["num_requests"]  # response length = output tokens


def test_csv_statistics_have_ttft_itl_and_tpot_rows(headless_run: LocustRun) -> None:
    assert headless_run.results_root is not None
    with (headless_run.results_root / "csv" / "run_stats.csv").open() as file:
        rows = {(row["Type"], row["Name"]) for row in csv.DictReader(file)}
    assert {(kind, "/v1/completions") for kind in ("POST", "TTFT", "ITL", "TPOT")} <= rows


def test_locust_ttft_and_itl_statistics_match_the_server_truth(
    headless_run: LocustRun, timed_sim: ServerProcess
) -> None:
    truth = {t["request_id"]: t for t in fetch_truth(timed_sim.base_url)}
    done = [r for r in headless_run.records() if r.ok]
    assert len(done) == headless_run.entry("TTFT")["num_requests"]
    true_ttft = [
        (truth[r.request_id]["first_token_ns"] - truth[r.request_id]["received_ns"]) / MS for r in done
    ]
    true_itl = [
        statistics.mean(b - a for a, b in zip(t, t[1:], strict=False)) / MS
        for t in (truth[r.request_id]["token_ns"] for r in done)
    ]
    ttft, itl = headless_run.entry("TTFT"), headless_run.entry("ITL")
    locust_ttft = ttft["total_response_time"] / ttft["num_requests"]
    locust_itl = itl["total_response_time"] / itl["num_requests"]
    # the client's TTFT also holds the request's trip to the server: a few ms on a busy machine at most
    assert 0 <= locust_ttft - statistics.mean(true_ttft) < 15, (locust_ttft, statistics.mean(true_ttft))
    assert abs(locust_itl - statistics.mean(true_itl)) < 1.5, (locust_itl, statistics.mean(true_itl))
    assert ttft["min_response_time"] >= min(true_ttft)


def test_every_recorded_token_follows_the_server_send_closely(
    headless_run: LocustRun, timed_sim: ServerProcess
) -> None:
    truth = {t["request_id"]: t for t in fetch_truth(timed_sim.base_url)}
    lags: list[int] = []
    for record in (r for r in headless_run.records() if r.ok):
        sent = truth[record.request_id]["token_ns"]
        assert len(record.content_ns) == len(sent) == record.output_tokens == 12
        lags += [mine - server for mine, server in zip(record.content_ns, sent, strict=True)]
    assert min(lags) >= 0, "a token was stamped before the server sent it"
    assert statistics.median(lags) < 3 * MS, f"median stamp lag {statistics.median(lags) / MS:.2f} ms"


def test_headless_results_are_a_loadgen_run(headless_run: LocustRun) -> None:
    run = headless_run.run()
    assert run.meta["tool"] == "locust" and run.meta["finished_at"] is not None
    (summary,) = run.summaries
    assert summary["level"] == f"concurrency={USERS}"
    measured = [r for r in run.records() if not r.warmup]
    assert summary["completed"] == sum(1 for r in measured if r.ok)
    assert summary["max_concurrent_requests"] == USERS
    assert summary["mean_ttft_ms"] > 55 and summary["mean_itl_ms"] > 7
    assert set(summary["errors"]) <= {errors.CANCELLED}  # only requests cut by the end of the run
    assert all(r.error_class in (None, errors.CANCELLED) for r in run.records())


def test_loadgen_report_reads_a_locust_run(headless_run: LocustRun, tmp_path: Path) -> None:
    command = [
        sys.executable,
        "-m",
        "loadgen",
        "report",
        str(headless_run.run().directory),
        "--output-dir",
        str(tmp_path),
    ]
    done = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    report = (tmp_path / "report.md").read_text()
    assert f"concurrency={USERS}" in report and "TTFT p50 (ms)" in report


def test_sweep_shape_steps_through_user_counts_unattended(
    sim_server: ServerProcess, jsonl_prompts: Path, tmp_path: Path
) -> None:
    run = run_locust(
        [
            "--headless",
            "--host",
            sim_server.base_url,
            "--sweep-users",
            "1,3",
            "--sweep-hold",
            "3",
            *workload_args(jsonl_prompts),
        ],
        results_root=tmp_path,
        locustfile=SWEEPFILE,
    )
    assert run.returncode == 0, run.stderr[-4000:]
    saved = run.run()
    levels = {s["level"]: s for s in saved.summaries}
    assert list(levels) == ["concurrency=1", "concurrency=3"]
    assert levels["concurrency=1"]["max_concurrent_requests"] == 1
    assert levels["concurrency=3"]["max_concurrent_requests"] == 3
    assert levels["concurrency=3"]["completed"] > 0
    assert {r.level for r in saved.records() if not r.warmup} == set(levels)


def test_server_errors_are_locust_failures_with_their_error_class(
    sim_server_factory: SimFactory, jsonl_prompts: Path
) -> None:
    with sim_server_factory(ttft_ms=10, itl_ms=1, output_tokens=8, fault="http_500", fault_every=3) as sim:
        run = run_locust(
            [
                "--headless",
                "-u",
                "2",
                "-r",
                "2",
                "--run-time",
                "3s",
                "--json",
                "--host",
                sim.base_url,
                *workload_args(jsonl_prompts),
            ],
        )
    post, ttft = run.entry("POST"), run.entry("TTFT")
    assert post["num_failures"] > 0
    assert ttft["num_requests"] == post["num_requests"] - post["num_failures"]
    assert "POST /v1/completions: http_5xx: " in run.stdout + run.stderr  # locust's error report
    assert run.returncode == 1  # locust's exit status when requests failed


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--api", "embeddings"],
            "Invalid value for '--api': 'embeddings' is not one of 'completions', 'chat'.",
        ),
        (["--max-tokens", "lots"], "Invalid value for '--max-tokens': 'lots' is not a valid integer range."),
        (
            ["--workload", "jsonl", "--dataset-path", "/nonexistent/p.jsonl"],
            "cannot build the jsonl workload",
        ),
        (["--host", ""], "no target"),
    ],
)
def test_a_bad_argument_is_a_one_line_error(args: list[str], message: str) -> None:
    command = locust_command(
        "--headless", "-u", "1", "--run-time", "1s", "--host", "http://127.0.0.1:9", *args
    )
    done = subprocess.run(
        command, cwd=REPO_ROOT, env=locust_env(), capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("locust: error: ") and message in last, done.stderr[-2000:]


def test_a_bad_sweep_argument_is_a_one_line_error(jsonl_prompts: Path) -> None:
    command = locust_command(
        "--headless",
        "--host",
        "http://127.0.0.1:9",
        "--sweep-users",
        "1,two",
        *workload_args(jsonl_prompts),
        locustfile=SWEEPFILE,
    )
    done = subprocess.run(
        command, cwd=REPO_ROOT, env=locust_env(), capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines()[-1] == (
        "locust: error: Invalid value for '--sweep-users': takes comma-separated numbers, got '1,two'"
    )
