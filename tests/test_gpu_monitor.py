"""The GPU monitor: nvidia-smi lines parsed, a level's window summed up, the sampler read live.

No GPU here: the sampler test puts a stand-in `nvidia-smi` on PATH (tests/fixtures/nvidia_smi.py)
that prints the query's CSV lines through buffered stdio, as nvidia-smi does: into a pipe they would
sit in a block buffer, so they reach the monitor while it runs only because the monitor gives it a
terminal.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import click
import pytest

from loadgen.compare.execute import _gpu_monitor
from loadgen.gpu_monitor import (
    HOST_BOUND_BUSY_PCT,
    GpuMonitor,
    GpuMonitorError,
    GpuSample,
    gpu_note,
    parse_line,
    summarize,
)
from loadgen.provenance import gpus
from loadgen.record import RequestRecord, records_window
from loadgen.results import machine_info

MS = 1_000_000


def sample(t_ms: int, busy: float, gpu: int = 0, sm: float | None = 1980.0) -> GpuSample:
    return GpuSample(t_ms * MS, gpu, busy, sm, 250.0, 4000.0)


def test_parse_line_reads_the_query_and_tolerates_unsupported_fields() -> None:
    assert parse_line("0, 37, 1980, 265.12, 40960", 5) == GpuSample(5, 0, 37.0, 1980.0, 265.12, 40960.0)
    assert parse_line("1, 0, 345, [N/A], 0", 5) == GpuSample(5, 1, 0.0, 345.0, None, 0.0)
    assert parse_line("index, utilization.gpu [%], clocks.current.sm [MHz]", 5) is None
    assert parse_line("No devices were found", 5) is None
    assert parse_line("0, [N/A], 1980, 100, 0", 5) is None


def test_summarize_keeps_the_window_and_judges_the_busiest_gpu() -> None:
    samples = [sample(t, 90.0) for t in (0, 1000)] + [sample(t, 30.0) for t in (200, 400, 600, 800)]
    samples += [sample(t, 5.0, gpu=1, sm=None) for t in (200, 400, 600, 800)]
    view = summarize(samples, 100 * MS, 900 * MS)
    assert view is not None
    assert view["gpu"] == 0 and view["busy_pct"] == pytest.approx(30.0)
    assert view["host_bound"] is True and view["threshold_pct"] == HOST_BOUND_BUSY_PCT
    by_gpu = {g["gpu"]: g for g in view["gpus"]}
    assert by_gpu[0]["samples"] == 4 and by_gpu[0]["sm_mhz_min"] == 1980.0
    assert by_gpu[1]["busy_pct"] == pytest.approx(5.0) and by_gpu[1]["sm_mhz_mean"] is None
    busy = summarize([sample(t, 80.0) for t in (200, 400, 600)], 0, 1000 * MS)
    assert busy is not None and busy["host_bound"] is False
    short = summarize([sample(200, 10.0), sample(400, 10.0)], 0, 1000 * MS)
    assert short is not None and short["host_bound"] is None  # two samples: too few to judge
    assert summarize(samples, 2000 * MS, 3000 * MS) is None
    assert gpu_note(view) == ", GPU busy 30% (host-bound)" and gpu_note(busy) == ", GPU busy 80%"
    assert gpu_note(None) == ""


def test_a_levels_window_runs_from_first_send_to_last_end() -> None:
    records = [
        RequestRecord("a", "t", 0, "completions", True, send_ns=50, end_ns=400),
        RequestRecord("b", "t", 1, "completions", True, send_ns=20, end_ns=None),  # cancelled
        RequestRecord("c", "t", 2, "completions", True, send_ns=90, end_ns=700),
    ]
    assert records_window(records) == (20, 700)
    assert records_window([]) is None


def test_the_monitor_reads_samples_while_nvidia_smi_runs(tmp_path: Path, fake_nvidia_smi: Path) -> None:
    monitor = GpuMonitor(tmp_path / "gpu-state.jsonl", interval_ms=20)
    monitor.start()
    try:
        assert monitor.wait_first(5.0)
        start = time.perf_counter_ns()
        deadline = time.monotonic() + 2  # a pipe's 8 KiB block buffer would take over 3 s to fill
        while len(monitor.samples()) < 10 and time.monotonic() < deadline:
            time.sleep(0.05)
        end = time.perf_counter_ns()
        record = RequestRecord("r", "t", 0, "completions", True, send_ns=start, end_ns=end)
        view = monitor.level_done([record])
    finally:
        monitor.close()
    assert view is not None, "no sample arrived while nvidia-smi ran: its output was buffered"
    assert view["gpu"] == 0 and 20 <= view["busy_pct"] <= 22 and view["host_bound"] is True
    assert {g["gpu"] for g in view["gpus"]} == {0, 1}
    lines = [json.loads(line) for line in (tmp_path / "gpu-state.jsonl").read_text().splitlines()]
    assert len(lines) >= 10 and lines[0].keys() == {
        "t_ns",
        "gpu",
        "busy_pct",
        "sm_mhz",
        "power_w",
        "memory_mib",
    }
    assert monitor._process is not None and monitor._process.poll() is not None  # stopped


def test_the_monitor_refuses_a_missing_command(tmp_path: Path) -> None:
    with pytest.raises(GpuMonitorError, match="not on PATH"):
        GpuMonitor(tmp_path / "g.jsonl", command="no-such-nvidia-smi").start()


def test_gpu_monitor_option(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no nvidia-smi here
    assert shutil.which("nvidia-smi") is None
    assert _gpu_monitor("auto") is False and _gpu_monitor("off") is False
    with pytest.raises(click.UsageError, match="needs nvidia-smi"):
        _gpu_monitor("on")


def test_run_json_names_the_gpus(fake_nvidia_smi: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert machine_info()["gpus"] == ["NVIDIA H100 80GB HBM3 (81559 MiB)"] * 2
    monkeypatch.setenv("PATH", str(fake_nvidia_smi.parent.parent))  # no nvidia-smi: no GPUs, no error
    assert gpus() == []
