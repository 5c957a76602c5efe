"""Blame where it belongs: failing requests are not a slow client, and an infinite rate is not "0"."""

from __future__ import annotations

import subprocess
import sys

import pytest

from loadgen import errors
from loadgen.errors import ConfigError
from loadgen.record import RequestRecord
from loadgen.run_config import LoadSpec
from loadgen.selfcheck import judge
from tests.fixtures.procs import REPO_ROOT, free_port

MS = 1_000_000


def rec(index: int, send_ms: float, end_ms: float, error: str | None = None) -> RequestRecord:
    return RequestRecord(
        request_id=str(index),
        target="t",
        index=index,
        api="completions",
        stream=True,
        send_ns=int(send_ms * MS),
        end_ns=int(end_ms * MS),
        error_class=error,
    )


def starved_level(error: str | None) -> list[RequestRecord]:
    """16 slots; after a while each request ends at once and its slot idles 1 ms before the next send."""
    records = [rec(i, 0, 100) for i in range(16)]
    t = 100.0
    for i in range(16, 400):
        records.append(rec(i, t, t + 0.1, error))  # a refused connection: over in 0.1 ms
        t += 1.1 / 16
    return records


def judged(records: list[RequestRecord]) -> tuple[list[str], list[str], float | None]:
    report = judge(
        wall_s=0.5,
        cpu_s=0.05,
        lags_ns=[100_000] * 20,
        records=records,
        target_in_flight=16,
        schedule_lags_ns=[],
    )
    return report.reasons, report.notes, report.achieved_in_flight


def test_in_flight_shortfall_from_failing_requests_is_not_client_bound() -> None:
    reasons, notes, achieved = judged(starved_level(errors.CONNECT_ERROR))
    assert achieved is not None and achieved < 0.95 * 16
    assert reasons == []
    assert len(notes) == 1 and "requests failed, not a client limit" in notes[0]


def test_the_same_shortfall_with_successful_requests_is_still_client_bound() -> None:
    reasons, notes, _ = judged(starved_level(None))
    assert any("requests in flight on average" in r for r in reasons)
    assert notes == []


@pytest.mark.parametrize(("rate", "message"), [(float("inf"), "finite rate"), (float("nan"), "finite rate")])
def test_infinite_and_nan_rates_are_refused_as_such(rate: float, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        LoadSpec(mode="open", rate=rate, num_requests=1)
    with pytest.raises(ConfigError, match="above 0"):
        LoadSpec(mode="open", rate=0.0, num_requests=1)


@pytest.mark.parametrize("text", ["1e999", "nan", "inf"])
def test_the_cli_refuses_an_infinite_rate_with_one_correct_line(text: str) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "loadgen",
            "run",
            "--base-url",
            f"http://127.0.0.1:{free_port()}",
            "--model",
            "m",
            "--workload",
            "jsonl",
            "--dataset-path",
            "/dev/null",
            "--rate",
            text,
        ],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        timeout=60,
    )
    assert proc.returncode == 2
    assert "finite rate" in proc.stderr and "above 0" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
