"""Marking percentiles computed from too few samples: a dagger in the tables and its footnote.

"Per tail" means on the percentile's smaller side: a p-th percentile of n values has n * min(p,
100 - p) / 100 values beyond it. Fewer than 20 there and one or two samples move it: p99 needs 2,000
values, p95 400, p90 200, p50 40 (`loadgen.stats_ci.too_few_for`). n is what the distribution was
computed from: successful requests for TTFT, TPOT and E2E, inter-token gaps for ITL.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from loadgen.stats_ci import MIN_TAIL_SAMPLES, too_few_for

DAGGER = "†"
FOOTNOTE = (
    f"{DAGGER} a percentile computed from fewer than {MIN_TAIL_SAMPLES} samples beyond it on its smaller "
    "side (p50 needs 40 values, p90 200, p99 2,000; ITL counts gaps, the others requests): a rough "
    "figure, one or two requests move it."
)

_PERCENTILE_KEY = re.compile(r"^p([0-9.]+)_([a-z0-9]+)_ms$")


def sample_count(summary: Mapping[str, Any], metric: str) -> int | None:
    """How many values `metric` (`ttft`, `itl`, ...) was computed from (None: not recorded)."""
    samples = summary.get("samples")
    if isinstance(samples, Mapping) and isinstance(samples.get(metric), int):
        return int(samples[metric])
    if metric in ("ttft", "e2el", "tpot") and isinstance(summary.get("completed"), int):
        return int(summary["completed"])  # runs saved before `samples` existed
    return None


def is_thin(key: str, summary: Mapping[str, Any] | None) -> bool:
    """True when summary key `key` (`p99_ttft_ms`) is a percentile with too few samples per tail."""
    match = _PERCENTILE_KEY.match(key)
    if summary is None or match is None:
        return False
    return too_few_for(sample_count(summary, match.group(2)), float(match.group(1)))


def mark(text: str, thin: bool) -> str:
    """`text` with the dagger when `thin` (and not a dash)."""
    return text + DAGGER if thin and text != "-" else text
