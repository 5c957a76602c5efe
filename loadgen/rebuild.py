"""Level summaries rebuilt from `requests.jsonl` when a run died before writing them (SIGKILL, OOM).

A run writes each request to `requests.jsonl` the moment it finishes, but a level's summary only
when the level ends. `rebuild_missing` turns the records of every (target, level) that has records
but no summary into a summary with the same statistics (`loadgen.stats.summarize` over the measured
window, warm-up left out), marked `rebuilt: "rebuilt from a partial run"` and `interrupted: true`:
a level cut short counts only the requests that finished before the end, so its throughput and
percentiles describe that stretch, not the whole level that was planned.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from loadgen.results import SavedRun

REBUILT_NOTE = "rebuilt from a partial run"


def _label(load: Mapping[str, Any]) -> str | None:
    if load.get("mode") == "closed" and load.get("concurrency") is not None:
        return f"concurrency={load['concurrency']}"
    if load.get("mode") == "open" and load.get("rate") is not None:
        return f"rate={float(load['rate']):g}"
    return None


def _load_of(level: str, meta: Mapping[str, Any]) -> dict[str, Any]:
    """The level's `load` from run.json, else what its label says (`concurrency=4`, `rate=2`)."""
    for load in meta.get("loads") or []:
        if isinstance(load, Mapping) and _label(load) == level:
            return dict(load)
    kind, _, value = level.partition("=")
    try:
        number = float(value)
    except ValueError:
        return {}
    if kind == "concurrency":
        return {"mode": "closed", "concurrency": int(number)}
    return {"mode": "open", "rate": number} if kind == "rate" else {}


def rebuild_missing(saved: SavedRun) -> list[dict[str, Any]]:
    """Summaries for the levels that have records but no summary, in the order they ran."""
    from loadgen.runner import DEFAULT_PERCENTILES, measured_window_s  # numpy: only when needed
    from loadgen.stats import summarize

    have = {(str(s.get("target")), str(s.get("level"))) for s in saved.summaries}
    percentiles = saved.meta.get("percentiles") or list(DEFAULT_PERCENTILES)
    rebuilt: list[dict[str, Any]] = []
    for (target, level), records in saved.records_by_level().items():
        if (target, level) in have or all(r.warmup for r in records):
            continue
        summary = summarize(records, duration_s=measured_window_s(records), percentiles=percentiles)
        summary.update(
            target=target,
            level=level,
            label=f"{target} {level}",
            load=_load_of(level, saved.meta),
            interrupted=True,
            rebuilt=REBUILT_NOTE,
        )
        rebuilt.append(summary)
    return rebuilt
