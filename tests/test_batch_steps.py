"""`benchmarks.batch_steps`: the HF server's step run by run from saved `/batches` records, and
whether two levels taken in turn differ (the level) or overlap (not the level)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from benchmarks.batch_steps import main, run_steps, verdict
from loadgen.compare.server_batches import read_batch_file

RESULTS = Path(__file__).resolve().parent.parent / "docs" / "results"


def batches(*steps_ms: float, rows: int = 7) -> list[dict[str, Any]]:
    return [
        {"batch_id": i, "rows": rows, "steps": 256, "decode_step_s_median": ms / 1e3}
        for i, ms in enumerate(steps_ms)
    ]


def run(label: str, *steps_ms: float) -> dict[str, Any]:
    return run_steps(label, batches(*steps_ms))


def test_a_run_has_its_median_step_and_range_at_the_common_row_count() -> None:
    found = run_steps("c16", batches(24.0, 25.0, 23.5) + batches(90.0, rows=2))
    assert found == {
        "label": "c16",
        "rows": 7,
        "batches": 3,
        "median_ms": 24.0,
        "min_ms": 23.5,
        "max_ms": 25.0,
    }
    assert run_steps("c16", batches(24.0))["median_ms"] is None  # too few batches to say


def test_levels_taken_in_turn_whose_runs_do_not_overlap_are_the_level() -> None:
    runs = [run("c16", 24.1, 24.2, 24.3), run("c64", 20.6, 20.7, 20.8), run("c16", 24.0, 24.4, 24.5),
            run("c64", 20.5, 20.9, 21.0)]  # fmt: skip
    found = verdict(runs)
    assert found["level_effect"] is True and found["labels"] == ["c64", "c16"]
    assert found["ratio"] == pytest.approx(24.3 / 20.8)  # the medians of each level's run medians
    assert found["text"].startswith("the level: every run at c16 stepped slower than every run at c64")


def test_a_host_that_moved_between_runs_is_not_the_level() -> None:
    # the host slowed down halfway: the second c64 run is as slow as the first c16 one
    runs = [run("c16", 24.2, 24.2, 24.2), run("c64", 20.7, 20.7, 20.7), run("c16", 20.6, 20.6, 20.6),
            run("c64", 24.3, 24.3, 24.3)]  # fmt: skip
    found = verdict(runs)
    assert found["level_effect"] is False and found["separated"] is False
    assert "the runs overlap" in found["text"]
    close = verdict([run("a", 20.0, 20, 20), run("b", 20.4, 20.4, 20.4), run("a", 20.1, 20.1, 20.1),
                     run("b", 20.5, 20.5, 20.5)])  # fmt: skip
    assert (
        close["separated"] is True and close["level_effect"] is False and "less than 1.05x" in close["text"]
    )


def test_one_run_of_a_level_cannot_tell_it_from_the_host() -> None:
    found = verdict([run("c16", 24.2, 24.2, 24.2), run("c64", 20.7, 20.7, 20.7)])
    assert found["level_effect"] is None and "cannot tell it from the host" in found["text"]
    assert verdict([run("c16", 24.2, 24.2, 24.2)])["level_effect"] is None


def test_the_command_line_reads_committed_batch_files_and_a_raw_batches_answer(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sweep = RESULTS / "2026-12-06e-claims-7b-sweep"
    c16 = sweep / "sweep-7b-c16" / "batches-02-hf-concurrency=16.json"
    c64 = sweep / "sweep-7b-c64" / "batches-02-hf-concurrency=64.json"
    raw = tmp_path / "batches.json"
    raw.write_text(json.dumps({"batches": batches(24.0, 24.5, 24.2)}))  # what GET /batches answers
    assert main([f"c16={c16}", f"c64={c64}", f"c16={raw}", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [r["median_ms"] for r in out["runs"]] == pytest.approx([24.18, 20.70, 24.2], abs=0.01)
    assert out["verdict"]["level_effect"] is None  # c64 ran once
    assert main([f"c16={c16}", f"c64={c64}"]) == 0
    assert "| 2   | c64   | 7    | 17      | 20.7" in capsys.readouterr().out


def test_bad_arguments_and_files_get_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["c16"]) == 2
    assert capsys.readouterr().err == "batch_steps: 'c16': expected LABEL=FILE\n"
    assert main([f"c16={tmp_path / 'missing.json'}"]) == 2
    assert capsys.readouterr().err.count("\n") == 1
    (tmp_path / "x.json").write_text("[]")
    with pytest.raises(ValueError, match="no 'batches' list"):
        read_batch_file(tmp_path / "x.json")
