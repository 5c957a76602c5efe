"""Levels whose throughput the drain of a finite set of requests held down.

A level that sends a fixed set of requests (all at once, as the published throughput claims do, or
any level short against its longest request) ends with a drain: the longest requests run on with
few others, and the server's batch stands mostly empty. A throughput over the whole window then
measures the longest request as much as the server, and more requests would read higher. The
summary's `drain_share` is the share of the window the last 10% of output tokens took
(`loadgen.stats.drain`); where it is well above 10% the report says so, and gives the throughput
and the ratio over the first 90% of tokens beside the whole window's.
"""

from __future__ import annotations

from typing import Any

from loadgen.report.data import ReportData
from loadgen.report.ratios import METRIC_BY_KEY, Metric, format_ratio, format_value, speedup
from loadgen.stats import DRAIN_QUANTILE

DRAIN_FLAG = 0.25
"""A level is drain-bound when its last 10% of output tokens took at least this share of its window:
two and a half times their share of the tokens."""


def _drained(summary: dict[str, Any]) -> bool:
    share = summary.get("drain_share")
    return isinstance(share, int | float) and share >= DRAIN_FLAG


BEFORE_DRAIN = Metric("output_throughput_before_drain", "output throughput before the drain", "tok/s", True)


def drain_notes(data: ReportData) -> list[str]:
    """A sentence per level where a server of a pair was drain-bound (none otherwise)."""
    tail = f"{100 * (1 - DRAIN_QUANTILE):.0f}%"
    notes = []
    for level in [*data.levels, *data.extra_levels]:
        for subject, base in data.pairs:
            a = data.series_named(subject).summaries.get(level) or {}
            b = data.series_named(base).summaries.get(level) or {}
            drained = [(name, s) for name, s in ((subject, a), (base, b)) if _drained(s)]
            if not drained:
                continue
            who = "; ".join(
                f"**{name}** took {100 * s['drain_share']:.0f}% of its window for its last {tail} of output "
                f"tokens ({format_value(s.get('output_throughput_before_drain'))} tok/s before them, "
                f"{format_value(s.get('output_throughput'))} over the whole window)"
                for name, s in drained
            )
            whole = format_ratio(speedup(METRIC_BY_KEY["output_throughput"], a, b))
            before = format_ratio(speedup(BEFORE_DRAIN, a, b))
            notes.append(
                f"DRAIN at {level}: {who}. The longest requests ran on with few others, so the whole "
                f"window's throughput depends on how many requests the level sent: {subject}/{base} "
                f"reads {whole} over the whole window and {before} over the first "
                f"{100 * DRAIN_QUANTILE:.0f}% of tokens. More requests per level would narrow the gap."
            )
    return notes
