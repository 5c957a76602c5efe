"""benchmarks.hf_http_ceiling: the paced stand-in for a model, and one real run of the HTTP side over it."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from benchmarks._common import CLK_TCK, proc_cpu_s, process_cpu_clock_s
from benchmarks.hf_http_ceiling import PacedModel, measure, parse_args


class _Criterion:
    """Says every row is done after `steps` calls; keeps what it saw."""

    def __init__(self, steps: int) -> None:
        self.steps = steps
        self.columns: list[list[int]] = []
        self.times: list[float] = []

    def __call__(self, column: torch.Tensor, scores: object) -> torch.Tensor:
        self.columns.append(column[:, -1].tolist())
        self.times.append(time.perf_counter())
        done = len(self.columns) >= self.steps
        return torch.full((column.shape[0],), done, dtype=torch.bool)


def test_the_paced_model_steps_at_its_pace_until_the_criterion_stops_it() -> None:
    model = PacedModel(0.01, [11, 12, 13])
    criterion = _Criterion(steps=5)
    start = time.perf_counter()
    model.generate(
        input_ids=torch.zeros((2, 4), dtype=torch.long),
        generation_config=SimpleNamespace(max_new_tokens=50),
        stopping_criteria=[criterion],
    )
    assert len(criterion.columns) == 5  # stopped by the criterion, not by max_new_tokens
    for step, seen in enumerate(criterion.times, start=1):
        assert seen - start >= step * 0.01  # never ahead of its pace
    assert all(len(column) == 2 for column in criterion.columns)
    assert criterion.columns[0] != criterion.columns[1]  # a new token every step


def test_the_paced_model_ends_at_max_new_tokens() -> None:
    criterion = _Criterion(steps=100)
    PacedModel(0.0, [5]).generate(
        input_ids=torch.zeros((1, 1), dtype=torch.long),
        generation_config=SimpleNamespace(max_new_tokens=3),
        stopping_criteria=[criterion],
    )
    assert len(criterion.columns) == 3


def test_another_process_cpu_time_is_read_to_well_under_a_tick() -> None:
    # A child that burns 25 ms of CPU and sleeps: /proc's ticks (10 ms) read it as 20 or 30 ms, the
    # process clock within a few milliseconds of what the child itself measured.
    code = (
        "import sys, time\nt = time.process_time()\nwhile time.process_time() - t < 0.025: pass\n"
        "print(time.process_time(), flush=True)\ntime.sleep(30)"
    )
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        own = float(child.stdout.readline())  # type: ignore[union-attr]
        seen = process_cpu_clock_s(child.pid)
        assert seen is not None and abs(seen - own) < 0.005
        ticks = proc_cpu_s(child.pid)
        assert ticks is not None and abs(ticks * CLK_TCK - round(ticks * CLK_TCK)) < 1e-6  # whole ticks
    finally:
        child.kill()
        child.wait()
    assert process_cpu_clock_s(child.pid) is None  # gone: None, not an error


@pytest.mark.slow
def test_the_real_server_over_the_paced_engine_delivers_every_token_in_one_batch(
    smollm2_dir: Path, tmp_path: Path
) -> None:
    args = parse_args(
        ["--model-dir", str(smollm2_dir), "--batch-sizes", "4", "--step-ms", "5", "--input-len", "16"]
        + ["--output-len", "12", "--rounds", "2", "--max-wait-ms", "2000"]
    )
    (row,) = measure(args, tmp_path)
    assert row["failed"] == 0 and row["split_waves"] == 0
    assert [wave["tokens"] for wave in row["waves"]] == [4 * 12, 4 * 12]
    assert row["engine_step_ms"] is not None and row["engine_step_ms"] >= 5.0 * 0.9
    # The paced engine bounds what the server can deliver; a window includes prefill and HTTP on top.
    assert 0 < row["delivered_tok_s"] < row["paced_tok_s"]
    assert row["http_cpu_us_per_token"] > 0
