"""`benchmarks.gpu_busy` on a committed H100 run: its nvidia-smi log joined with each level's window."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks.gpu_busy import main, run_views

RESULTS = Path(__file__).parent.parent / "docs/results/gpu-h100-2026-12-05d-burst-gap"


def test_each_level_and_batch_gets_the_gpu_figures_of_its_own_window() -> None:
    rows = {
        (r["target"], r["level"]): r["gpu"]
        for r in run_views(RESULTS / "run-a", RESULTS / "gpu-state-a.csv.gz")
    }
    assert len(rows) == 18  # 5 levels and 4 fixed batches on each server
    hf, vllm = rows[("hf", "concurrency=1")], rows[("vllm", "concurrency=1")]
    # one minute of batch-1 decoding on the HF server against ten seconds of vLLM's
    assert hf["gpus"][0]["samples"] > 250 and 40 < vllm["gpus"][0]["samples"] < 60
    assert hf["busy_pct"] == pytest.approx(24, abs=1) and hf["host_bound"] is True
    assert vllm["busy_pct"] == pytest.approx(58, abs=1) and vllm["host_bound"] is False
    assert rows[("vllm", "batch=8")]["host_bound"] is None  # 0.3 s: one sample
    assert all(v is not None and v["gpus"][0]["sm_mhz_min"] >= 1800 for v in rows.values())


def test_a_shifted_clock_moves_the_windows(tmp_path: Path) -> None:
    out = tmp_path / "busy.json"
    main(
        [
            str(RESULTS / "run-a"),
            str(RESULTS / "gpu-state-a.csv.gz"),
            "--out",
            str(out),
            "--utc-offset-h",
            "1",
        ]
    )
    rows = json.loads(out.read_text())
    assert rows and all(r["gpu"] is None for r in rows)  # an hour off: no sample in any window
