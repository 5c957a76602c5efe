"""Unsteady hosts: the spread of a naive-batching server's per-batch step times at one row count
(`server_batches.step_spread`), and the report's UNSTEADY HOST note on levels whose GPU was not
saturated (`loadgen.report.steadiness`), on made-up batches and on the committed H100 runs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from loadgen.compare.server_batches import digest, row_step_yield, saved_step_spread, step_spread
from loadgen.report.console import verdict_lines
from loadgen.report.data import load_report_data
from loadgen.report.steadiness import SATURATED_PCT, UNSTEADY_RATIO, level_spread, unsteady

RESULTS = Path(__file__).resolve().parent.parent / "docs" / "results"


def batch(rows: int, step_ms: float, steps: int = 200) -> dict[str, Any]:
    """One record of the HF server's `/batches`, with what `step_spread` and `digest` read."""
    return {
        "rows": rows,
        "fill": rows / 7,
        "padding_fraction": 0.5,
        "steps": steps,
        "decode_step_s_median": step_ms / 1e3,
        "decode_step_s_max": 2 * step_ms / 1e3,
        "duration_s": steps * step_ms / 1e3,
    }


def test_the_spread_is_over_full_length_batches_at_the_most_common_row_count() -> None:
    batches = [batch(7, 20.0), batch(7, 30.0), batch(7, 24.0), batch(2, 90.0), batch(7, 99.0, steps=10)]
    # the 2-row batch and the 10-step one are left out: another row count, too few steps
    spread = step_spread(batches)
    assert spread is not None
    assert {k: spread[k] for k in ("rows", "batches", "min_ms", "max_ms", "median_ms")} == {
        "rows": 7,
        "batches": 3,
        "min_ms": 20.0,
        "max_ms": 30.0,
        "median_ms": 24.0,
    }
    # 200 steps each: the 30 ms batch spent 200 x 6 ms beyond the median's 24, of 200 x 74 ms in all
    assert spread["slow_share"] == pytest.approx(6 / 74)
    assert digest(batches, 7)["decode_step_spread"] == spread


def test_the_slow_share_weighs_each_batch_by_its_steps() -> None:
    # A long batch slowed by the host weighs more than a short one: 40 ms over 600 steps beyond a
    # 20 ms median is 600 x 20 of (100 x 20 + 200 x 20 + 600 x 40) ms.
    spread = step_spread([batch(7, 20.0, steps=100), batch(7, 20.0, steps=200), batch(7, 40.0, steps=600)])
    assert spread is not None and spread["median_ms"] == 20.0
    assert spread["slow_share"] == pytest.approx(12_000 / 30_000)
    steady = step_spread([batch(7, 20.0)] * 4)
    assert steady is not None and steady["slow_share"] == 0.0


def test_fewer_than_three_comparable_batches_have_no_spread() -> None:
    assert step_spread([batch(7, 20.0), batch(7, 40.0), batch(3, 20.0)]) is None
    assert step_spread([]) is None


def test_the_row_step_yield_is_tokens_over_rows_times_steps() -> None:
    # 7 rows x 200 steps holding 700 tokens, and 3 rows x 100 steps full: 1,000 of 1,700 row-steps
    batches = [{**batch(7, 20.0), "tokens": 700}, {**batch(3, 20.0, steps=100), "tokens": 300}]
    assert row_step_yield(batches) == pytest.approx(1_000 / 1_700)
    assert digest(batches, 7)["row_step_yield"] == pytest.approx(1_000 / 1_700)
    # a record from a server that did not count its tokens makes the share unknown, not smaller
    assert row_step_yield([*batches, batch(7, 20.0)]) is None
    assert row_step_yield([{**batch(7, 20.0, steps=0), "tokens": 0}]) is None


def summary(busy_pct: float | None, spread: dict[str, Any] | None) -> dict[str, Any]:
    gpu = {} if busy_pct is None else {"busy_pct": busy_pct, "host_bound": busy_pct < 50}
    return {"gpu": gpu, "server_batches": {"batches": 9, "decode_step_spread": spread}}


@pytest.mark.parametrize(
    ("busy_pct", "high_ms", "flagged"),
    [
        (45.0, 20.0 * UNSTEADY_RATIO, True),
        (45.0, 24.0, False),
        (70.0, 40.0, True),  # not host-bound, but the host still set part of the step
        (SATURATED_PCT, 40.0, False),  # the GPU's pace: longer sequences take longer
        (None, 40.0, True),  # a run without GPU samples
    ],
)
def test_a_level_whose_steps_moved_is_unsteady_unless_the_gpu_was_saturated(
    busy_pct: float | None, high_ms: float, flagged: bool
) -> None:
    spread = {"rows": 7, "batches": 9, "min_ms": 20.0, "max_ms": high_ms}
    assert (unsteady(summary(busy_pct, spread), None, "hf", "concurrency=8") is not None) == flagged


def test_a_run_saved_before_the_digest_had_the_spread_is_read_from_its_batch_files(tmp_path: Path) -> None:
    batches = [batch(7, ms) for ms in (20.0, 21.0, 35.0)]
    saved = {"target": "hf", "label": "concurrency=8", "max_batch_size": 7, "batches": batches}
    (tmp_path / "batches-02-hf-concurrency=8.json").write_text(json.dumps(saved))
    other = {**saved, "label": "parity", "batches": [batch(7, 90.0)] * 3}
    (tmp_path / "batches-01-hf-parity.json").write_text(json.dumps(other))
    old = {"gpu": {"host_bound": True}, "server_batches": {"batches": 3}}
    expected = step_spread(batches)
    assert expected is not None and (expected["min_ms"], expected["max_ms"]) == (20.0, 35.0)
    assert saved_step_spread(tmp_path, "hf", "concurrency=8") == expected
    assert level_spread(old, tmp_path, "hf", "concurrency=8") == expected
    assert unsteady(old, tmp_path, "hf", "concurrency=8") == expected
    # a summary whose spread predates `slow_share` gets it from the same files
    older = {**old, "server_batches": {"batches": 3, "decode_step_spread": {"rows": 7, "batches": 3}}}
    assert level_spread(older, tmp_path, "hf", "concurrency=8") == expected
    assert level_spread(older, None, "hf", "concurrency=8") == {"rows": 7, "batches": 3}


def test_the_h100_lease_whose_hf_steps_moved_is_flagged_and_the_steady_one_is_not() -> None:
    # The same command on two H100 leases: 18.0-18.6 ms a step at 7 rows (GPU busy 76%), then
    # 22.5-38.9 ms (busy 48%, host-bound), where vLLM/HF read 19.4x and 28.0x.
    moved = verdict_lines(load_report_data([RESULTS / "2026-12-06c-claims-7b" / "n1-7b"]))
    note = next(line for line in moved if line.startswith("UNSTEADY HOST"))
    assert "hf concurrency=128" in note and "22.5 to 38.9 ms" in note and "1.73x apart" in note
    # the whole lease was slower, not just its spikes: the median batch's step is 25.7 ms (18.3 on
    # the steady lease), and holding it throughout would have saved only 11% of the decode time
    assert "at the median batch's 25.7 ms throughout" in note and "11% less time" in note
    steady = verdict_lines(load_report_data([RESULTS / "2026-12-05-claims" / "n1-7b"]))
    assert not any(line.startswith("UNSTEADY HOST") for line in steady)


def test_the_lease_whose_steps_moved_with_the_gpu_half_busy_is_flagged() -> None:
    # Session 5: the same n=1 command twice on one lease, GPU busy 53% (not host-bound), the step at
    # 7 rows 21.4-35.1 ms: as unsteady as session 4's host-bound run.
    lines = verdict_lines(load_report_data([RESULTS / "2026-12-06d-claims-7b-repeat" / "n1-7b-a"]))
    note = next(line for line in lines if line.startswith("UNSTEADY HOST"))
    assert "the GPU was busy only 53%" in note and "21.4 to 35.1 ms" in note


def test_session_6s_sweep_flags_only_its_slow_spell_at_concurrency_1() -> None:
    # One lease, three levels: at concurrency 1 three batches stepped at 31-38 ms against a 19.0 ms
    # median (8% of the decoding); at 16 and 64 the step at 7 rows stayed within 1.06x and 1.14x.
    sweep = RESULTS / "2026-12-06e-claims-7b-sweep"
    lines = verdict_lines(load_report_data([sweep / "sweep-7b-c1"]))
    note = next(line for line in lines if line.startswith("UNSTEADY HOST"))
    assert "16.2 to 37.8 ms" in note and "median batch's 19.0 ms" in note and "8% less time" in note
    for steady in ("sweep-7b-c16", "sweep-7b-c64"):
        lines = verdict_lines(load_report_data([sweep / steady]))
        assert not any(line.startswith("UNSTEADY HOST") for line in lines), steady
