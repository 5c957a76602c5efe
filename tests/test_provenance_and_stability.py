"""Where results come from (`loadgen.provenance`) and the GPU stability benchmark's arithmetic."""

from __future__ import annotations

import json
import math
import shutil
import statistics
from pathlib import Path

import pytest

from benchmarks.stability import compare_runs, print_report, slow_batches
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


def test_the_boot_id_names_this_boot_and_goes_into_run_json() -> None:
    from loadgen.results import machine_info

    boot = provenance.boot_id()
    assert boot is not None and boot == Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    assert machine_info()["boot_id"] == boot


def test_a_batch_above_one_and_a_half_times_its_sizes_median_is_slow() -> None:
    records = [
        {**_batch(i, 8, ms), "run": "a", "label": "concurrency=8"}
        for i, ms in enumerate([10.0, 11.0, 12.0, 18.1], 1)
    ] + [{**_batch(9, 32, 70.0), "run": "a", "label": "batch=32"}]
    medians, slow = slow_batches(records)
    assert medians == {8: 11.5, 32: 70.0}  # a size seen once is its own median: never slow
    assert [(b["batch_id"], b["rows"]) for b in slow] == [(4, 8)]  # 18.1 > 1.5 x 11.5


def _run(directory: Path, hf_tok_s: float, steps_ms: list[float], hf_busy: float | None = None) -> Path:
    directory.mkdir()
    (directory / "run.json").write_text("{}")
    for number, (target, tok_s) in enumerate((("hf", hf_tok_s), ("vllm", 1000.0)), 1):
        summary: dict[str, object] = {"level": "concurrency=4", "target": target, "output_throughput": tok_s}
        if hf_busy is not None and target == "hf":
            summary["gpu"] = {"busy_pct": hf_busy, "host_bound": hf_busy < 50}
        (directory / f"summary-0{number}-{target}-concurrency=4.json").write_text(json.dumps(summary))
    batches = [_batch(i, 4, ms) for i, ms in enumerate(steps_ms, 1)]
    (directory / "batches-01-hf-concurrency=4.json").write_text(
        json.dumps({"label": "concurrency=4", "batches": batches})
    )
    return directory


def test_two_runs_are_compared_level_by_level(tmp_path: Path) -> None:
    run_a = _run(tmp_path / "a", 100.0, [10.0, 10.0])
    result = compare_runs([run_a, _run(tmp_path / "b", 115.0, [10.0, 20.0])])
    changes = {(r["server"], r["label"]): r["change"] for r in result["rows"]}
    assert changes[("hf", "concurrency=4")] == pytest.approx(0.15)
    assert changes[("vllm", "concurrency=4")] == 0.0
    within = result["targets"]["run_to_run_within_10pct"]
    assert not within["met"] and within["outside"] == ["hf concurrency=4: +15.0%"]
    assert result["targets"]["no_slow_batch"]["count"] == 1  # 20 ms against a median of 10


def test_three_runs_give_each_later_run_against_the_first_and_the_ratios_interval(tmp_path: Path) -> None:
    runs = [_run(tmp_path / name, tok_s, [10.0]) for name, tok_s in (("a", 100.0), ("b", 95.0), ("c", 125.0))]
    result = compare_runs(runs)
    hf = next(r for r in result["rows"] if r["server"] == "hf")
    assert hf["changes"] == [pytest.approx(-0.05), pytest.approx(0.25)]
    assert hf["change"] == pytest.approx(0.25)  # the largest, which decides the 10% target
    (ratio,) = result["vllm_over_hf"]
    assert ratio["label"] == "concurrency=4"
    assert ratio["vllm_over_hf"] == [pytest.approx(10.0), pytest.approx(1000 / 95), pytest.approx(8.0)]
    low, high = ratio["ci95"]
    assert low < ratio["mean"] < high
    # t(2 df) = 4.303: the half-width is 4.303 * stdev / sqrt(3)
    values = [10.0, 1000 / 95, 8.0]
    half = 4.303 * statistics.stdev(values) / math.sqrt(3)
    assert (low, high) == (
        pytest.approx(statistics.fmean(values) - half),
        pytest.approx(statistics.fmean(values) + half),
    )


def test_the_gpu_busy_share_is_kept_per_run_and_host_bound_runs_counted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    runs = [_run(tmp_path / name, 100.0, [10.0], busy) for name, busy in (("a", 30.0), ("b", 70.0))]
    result = compare_runs(runs)
    hf = next(r for r in result["rows"] if r["server"] == "hf")
    vllm = next(r for r in result["rows"] if r["server"] == "vllm")
    assert hf["gpu_busy_pct"] == [30.0, 70.0] and hf["host_bound"] == [True, False]
    assert vllm["gpu_busy_pct"] == [None, None]  # runs without the GPU monitor
    print_report(result)
    assert "host-bound (GPU busy under half the time, from `loadgen compare`'s GPU monitor): 1 of 2" in (
        capsys.readouterr().out
    )


def test_one_run_is_not_a_stability_record(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="at least two"):
        compare_runs([_run(tmp_path / "a", 100.0, [10.0])])


SESSION_4_N1 = Path(__file__).resolve().parent.parent / "docs" / "results" / "2026-12-06c-claims-7b" / "n1-7b"


def test_a_report_of_runs_from_two_machines_says_so(tmp_path: Path) -> None:
    from loadgen.report.context import machine_blocks
    from loadgen.report.data import load_report_data
    from loadgen.report.doc import Callout

    runs = []
    for name, boot in (("a", "boot-1"), ("b", "boot-2")):
        run = tmp_path / name
        shutil.copytree(SESSION_4_N1, run)
        meta = json.loads((run / "run.json").read_text())
        meta["machine"]["boot_id"] = boot
        (run / "run.json").write_text(json.dumps(meta))
        runs.append(run)
    apart = machine_blocks(load_report_data(runs))
    assert isinstance(apart[0], Callout) and "different machines" in apart[0].text
    meta["machine"]["boot_id"] = "boot-1"
    (runs[1] / "run.json").write_text(json.dumps(meta))
    assert not any(isinstance(b, Callout) for b in machine_blocks(load_report_data(runs)))
