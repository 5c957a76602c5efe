"""Where results come from (`loadgen.provenance`) and the GPU stability benchmark's arithmetic."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks.stability import compare_runs, slow_batches
from loadgen import provenance


def test_the_commit_variable_wins_over_git(monkeypatch: pytest.MonkeyPatch) -> None:
    provenance.source_commit.cache_clear()
    monkeypatch.setenv(provenance.COMMIT_ENV, "abc1234")
    try:
        assert provenance.source_commit() == "abc1234"
    finally:
        provenance.source_commit.cache_clear()


def test_without_the_variable_the_commit_comes_from_git(monkeypatch: pytest.MonkeyPatch) -> None:
    provenance.source_commit.cache_clear()
    monkeypatch.delenv(provenance.COMMIT_ENV, raising=False)
    try:
        commit = provenance.source_commit()
    finally:
        provenance.source_commit.cache_clear()
    assert commit is not None and len(commit.removesuffix("+dirty")) == 40


def _batch(batch_id: int, rows: int, mean_ms: float) -> dict[str, object]:
    return {"batch_id": batch_id, "rows": rows, "decode_step_s_mean": mean_ms / 1e3}


def test_a_batch_above_one_and_a_half_times_its_sizes_median_is_slow() -> None:
    records = [
        {**_batch(i, 8, ms), "run": "a", "label": "concurrency=8"}
        for i, ms in enumerate([10.0, 11.0, 12.0, 18.1], 1)
    ] + [{**_batch(9, 32, 70.0), "run": "a", "label": "batch=32"}]
    medians, slow = slow_batches(records)
    assert medians == {8: 11.5, 32: 70.0}  # a size seen once is its own median: never slow
    assert [(b["batch_id"], b["rows"]) for b in slow] == [(4, 8)]  # 18.1 > 1.5 x 11.5


def _run(directory: Path, hf_tok_s: float, steps_ms: list[float]) -> Path:
    directory.mkdir()
    (directory / "run.json").write_text("{}")
    for number, (target, tok_s) in enumerate((("hf", hf_tok_s), ("vllm", 1000.0)), 1):
        summary = {"level": "concurrency=4", "target": target, "output_throughput": tok_s}
        (directory / f"summary-0{number}-{target}-concurrency=4.json").write_text(json.dumps(summary))
    batches = [_batch(i, 4, ms) for i, ms in enumerate(steps_ms, 1)]
    (directory / "batches-01-hf-concurrency=4.json").write_text(
        json.dumps({"label": "concurrency=4", "batches": batches})
    )
    return directory


def test_two_runs_are_compared_level_by_level(tmp_path: Path) -> None:
    run_a = _run(tmp_path / "a", 100.0, [10.0, 10.0])
    result = compare_runs(run_a, _run(tmp_path / "b", 115.0, [10.0, 20.0]))
    changes = {(r["server"], r["label"]): r["change"] for r in result["rows"]}
    assert changes[("hf", "concurrency=4")] == pytest.approx(0.15)
    assert changes[("vllm", "concurrency=4")] == 0.0
    within = result["targets"]["run_to_run_within_10pct"]
    assert not within["met"] and within["outside"] == ["hf concurrency=4: +15.0%"]
    assert result["targets"]["no_slow_batch"]["count"] == 1  # 20 ms against a median of 10
