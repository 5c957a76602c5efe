"""`benchmarks.host_watch`: the host's speed sampled through a call, and batches read against it."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from benchmarks import host_watch
from tests.fixtures.procs import REPO_ROOT


def test_shares_split_the_cpu_time_between_two_readings(tmp_path: Path) -> None:
    stat = tmp_path / "stat"
    # user nice system idle iowait irq softirq steal guest guest_nice
    stat.write_text("cpu  100 0 50 800 50 0 0 0 0 0\ncpu0 1 2 3\n")
    before = host_watch.cpu_times(stat)
    stat.write_text("cpu  160 0 70 860 60 0 0 50 0 0\n")
    after = host_watch.cpu_times(stat)
    # 200 ticks between: 80 busy (user + system), 70 idle (idle + iowait), 50 stolen
    assert host_watch.shares(before, after) == (25.0, 40.0)
    assert host_watch.shares(after, after) == (None, None)
    assert host_watch.cpu_times(tmp_path / "missing") is None


def test_the_watch_writes_a_flushed_row_per_interval_until_sigterm(tmp_path: Path) -> None:
    out = tmp_path / "host-speed.csv"
    watcher = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.host_watch", "watch", "--out", str(out), "--interval", "0.2"],
        cwd=REPO_ROOT,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and (not out.exists() or len(out.read_text().splitlines()) < 4):
            time.sleep(0.1)
        rows_seen = len(out.read_text().splitlines())  # flushed while the watch still runs
    finally:
        watcher.send_signal(signal.SIGTERM)
        code = watcher.wait(timeout=30)
    assert code == 0 and rows_seen >= 4
    samples = host_watch.read_samples(out)
    assert len(samples) >= 3
    assert all(0 < float(s["python_ns_per_iter"] or 0) < 10_000 for s in samples)
    assert samples[1]["steal_pct"] is not None and 0 <= float(samples[1]["steal_pct"] or 0) <= 100
    times = [float(s["unix_s"] or 0) for s in samples]
    assert times == sorted(times)


def test_max_seconds_ends_the_watch(tmp_path: Path) -> None:
    out = tmp_path / "w.csv"
    rows = host_watch.watch(out, interval_s=0.05, max_seconds=0.3)
    with out.open() as file:
        assert len(list(csv.reader(file))) == rows + 1  # the header


def batch(start: float, rows: int, step_ms: float, steps: int = 200) -> dict[str, Any]:
    return {
        "started_unix": start,
        "rows": rows,
        "steps": steps,
        "duration_s": steps * step_ms / 1e3,
        "decode_step_s_median": step_ms / 1e3,
    }


def test_batches_are_read_against_the_host_samples_taken_while_they_ran() -> None:
    # three 7-row batches: the slow one ran while the host was slow; a 2-row and a short batch left out
    batches = [
        batch(0, 7, 20.0),
        batch(10, 7, 30.0),
        batch(20, 7, 21.0),
        batch(30, 2, 50.0),
        batch(40, 7, 90, 5),
    ]
    samples: list[dict[str, float | None]] = [
        {"unix_s": t, "python_ns_per_iter": ns, "steal_pct": st, "busy_pct": 50.0, "load_avg_1m": 1.0}
        for t, ns, st in [
            (1.0, 70.0, 0.0),
            (3.0, 72.0, 1.0),
            (11.0, 110.0, 20.0),
            (14.0, 120.0, 30.0),
            (21, 71, 0),
        ]
    ]
    found = host_watch.against(batches, samples)
    assert [(b.step_ms, b.python_ns, b.samples) for b in found] == [
        (20.0, 71.0, 2),
        (30.0, 115.0, 2),
        (21.0, 71.0, 1),
    ]
    assert found[1].steal_pct == 25.0
    r = host_watch.correlation([(b.python_ns, b.step_ms) for b in found if b.python_ns is not None])
    assert r is not None and r > 0.99
    assert host_watch.correlation([(1.0, 2.0), (2.0, 2.0), (3.0, 2.0)]) is None


def test_a_torn_last_row_is_skipped(tmp_path: Path) -> None:
    path = tmp_path / "w.csv"
    path.write_text(",".join(host_watch.FIELDS) + "\n1.0,70.0,0.0,50.0,1.0\n2.0,7")
    assert len(host_watch.read_samples(path)) == 1


def test_against_refuses_a_missing_file_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        host_watch.main(
            ["against", "--samples", str(tmp_path / "no.csv"), "--batches", str(tmp_path / "no.json")]
        )
    assert exit_info.value.code == 2
    assert "no file" in capsys.readouterr().err


def test_against_refuses_a_file_that_holds_no_batches_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    samples = tmp_path / "w.csv"
    samples.write_text(",".join(host_watch.FIELDS) + "\n1.0,70.0,0.0,50.0,1.0\n")
    torn = tmp_path / "batches.json"
    torn.write_text('{"batches": [')  # a file cut short
    assert host_watch.main(["against", "--samples", str(samples), "--batches", str(torn)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"host_watch: {torn}") and err.count("\n") == 1
