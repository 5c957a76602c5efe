"""Reading repeats back: per-repeat summaries apart from the pooled one, a re-run's attempt wins."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from loadgen.report.client_bound import client_bound_levels
from loadgen.report.data import load_report_data
from loadgen.results import RunWriter


def summary(target: str, **extra: Any) -> dict[str, Any]:
    return {"target": target, "level": "concurrency=4", "load": {"mode": "closed", "concurrency": 4}, **extra}


def test_the_later_attempt_wins_whatever_the_file_order(tmp_path: Path) -> None:
    writer = RunWriter(tmp_path, {"kind": "compare", "targets": [{"name": "a"}, {"name": "b"}]})
    # attempt 2 written first (file order is not attempt order once there are 100+ summaries)
    writer.write_summary(summary("a", repeat=0, repeats=2, attempt=2, client_bound=False))
    writer.write_summary(summary("a", pooled=True, repeats=2, attempt=2, completed=16))
    writer.write_summary(summary("a", repeat=0, repeats=2, client_bound=True, selfcheck={"reasons": ["lag"]}))
    writer.write_summary(summary("a", repeat=1, repeats=2, client_bound=False))
    writer.write_summary(summary("a", pooled=True, repeats=2, completed=8, client_bound=True))
    writer.finish()
    data = load_report_data([tmp_path])
    series = data.series_named("a")
    assert series.summaries["concurrency=4"]["completed"] == 16
    assert series.repeats["concurrency=4"][0].get("attempt") == 2
    assert series.repeats["concurrency=4"][1].get("attempt") is None
    assert client_bound_levels(data) == {}
