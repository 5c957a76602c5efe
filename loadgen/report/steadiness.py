"""Levels where a naive-batching server's step time moved: the host's speed changed during the level.

At one row count the HF server's decode step runs the same Python and the same kernel launches every
time, so its per-batch median step time should hardly move (two H100 runs of the LLaMA-7B shape at 7
rows: 18.0-18.6 ms on one lease; 22.5-38.9 ms on another, where the HF throughput fell by a third
and the vLLM/HF ratio rose from 19x to 28x). When those medians lie far apart, something else used
the host's CPUs or their clocks changed: the level's figures, and any ratio to them, may not repeat
even on the same machine. The report says so at its top, beside HOST-BOUND.

The check needs no HOST-BOUND verdict (GPU busy under 50%): on a third lease the same step took
21.1-35.1 ms with the GPU 53% busy, and the 13B shape's n=3 level 23.7-43.2 ms at 54%. It leaves out
only a level whose GPU was saturated (`SATURATED_PCT`), where the step is the GPU's and a batch with
longer sequences legitimately takes longer. In the committed runs the step at one row count did not
follow the batch's width: session 1's 7B batches of 58 to 996 prompt tokens all took 18.0-18.6 ms.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from loadgen.compare.server_batches import saved_step_spread
from loadgen.report.data import ReportData

UNSTEADY_RATIO = 1.25
"""A level is unsteady when its slowest per-batch median step is this many times its fastest, at one
row count."""

SATURATED_PCT = 90.0
"""GPU busy at or above this share of a level: the GPU set the step's pace, not the host."""


def level_spread(
    summary: dict[str, Any], run_dir: Path | None, target: str, level: str
) -> dict[str, Any] | None:
    """The level's `decode_step_spread` (`server_batches.step_spread`), from its summary or, for runs
    saved before summaries carried it (or its `slow_share`), from the run's batch files."""
    formed = summary.get("server_batches") or {}
    spread = formed.get("decode_step_spread")
    if not isinstance(spread, dict) and "decode_step_spread" in formed:
        return None
    if run_dir is not None and formed and (spread is None or "slow_share" not in spread):
        return saved_step_spread(run_dir, target, level) or spread
    return spread


def unsteady(summary: dict[str, Any], run_dir: Path | None, target: str, level: str) -> dict[str, Any] | None:
    """The spread of a level whose step times lay `UNSTEADY_RATIO` or more apart while the GPU was not
    saturated (or was not watched), else None."""
    busy = (summary.get("gpu") or {}).get("busy_pct")
    if busy is not None and float(busy) >= SATURATED_PCT:
        return None
    spread = level_spread(summary, run_dir, target, level)
    if not spread or not spread.get("min_ms"):
        return None
    return spread if float(spread["max_ms"]) / float(spread["min_ms"]) >= UNSTEADY_RATIO else None


def spread_text(spread: dict[str, Any]) -> str:
    """`the decode step at 7 rows took 22.5 to 38.9 ms (per-batch medians of 18 batches, 1.73x apart);
    at the median batch's 25.7 ms throughout, these batches' decoding would have taken 11% less time`
    (the second part where the spread has `slow_share`)."""
    low, high = float(spread["min_ms"]), float(spread["max_ms"])
    text = (
        f"the decode step at {spread['rows']} rows took {low:.1f} to {high:.1f} ms (per-batch medians of "
        f"{spread['batches']} batches, {high / low:.2f}x apart)"
    )
    if spread.get("slow_share") is None:
        return text
    return (
        f"{text}; at the median batch's {float(spread['median_ms']):.1f} ms throughout, these batches' "
        f"decoding would have taken {100 * float(spread['slow_share']):.0f}% less time"
    )


def gpu_share(summary: dict[str, Any]) -> str:
    """How the level used the GPU, for the note: `the level was host-bound`, `the GPU was busy only
    53%` or `the GPU was not watched`."""
    gpu = summary.get("gpu") or {}
    if gpu.get("host_bound"):
        return "the level was host-bound"
    busy = gpu.get("busy_pct")
    return "the GPU was not watched" if busy is None else f"the GPU was busy only {float(busy):.0f}%"


def unsteady_notes(data: ReportData) -> list[str]:
    """A sentence per level whose step time moved (none otherwise)."""
    dirs = {run.label: run.saved.directory for run in data.runs}
    notes = []
    for level in [*data.levels, *data.extra_levels]:
        for series in data.series:
            summary = series.summaries.get(level) or {}
            spread = unsteady(summary, dirs.get(series.run), series.target, level)
            if spread is None:
                continue
            notes.append(
                f"UNSTEADY HOST at {series.name} {level}: {gpu_share(summary)}, and "
                f"{spread_text(spread)}. The host's speed moved during the level (other work on its "
                "CPUs, their clocks): its figures, and any ratio to them, may not repeat even on this "
                "machine. Re-run, and compare only runs whose steps were steady."
            )
    return notes
