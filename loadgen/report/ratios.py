"""The metrics a comparison reports, and the speed-up of one series over another.

A speed-up above 1 always means the subject is better: subject / baseline for throughputs,
baseline / subject for latencies.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Metric:
    """One reported metric: its summary key, label, unit and direction."""

    key: str
    label: str
    unit: str
    higher_is_better: bool

    def value(self, summary: Mapping[str, Any] | None) -> float | None:
        """The metric's value in `summary` (None when absent)."""
        if summary is None:
            return None
        raw = summary.get(self.key)
        return float(raw) if isinstance(raw, int | float) and not isinstance(raw, bool) else None


METRICS: tuple[Metric, ...] = (
    Metric("output_throughput", "output throughput", "tok/s", True),
    Metric("request_throughput", "request throughput", "req/s", True),
    Metric("request_goodput", "goodput (SLOs met)", "req/s", True),
    Metric("p50_ttft_ms", "TTFT p50", "ms", False),
    Metric("p99_ttft_ms", "TTFT p99", "ms", False),
    Metric("p50_itl_ms", "ITL p50", "ms", False),
    Metric("p99_itl_ms", "ITL p99", "ms", False),
    Metric("mean_tpot_ms", "TPOT mean", "ms", False),
    Metric("p50_e2el_ms", "E2E p50", "ms", False),
    Metric("p99_e2el_ms", "E2E p99", "ms", False),
)
METRIC_BY_KEY = {m.key: m for m in METRICS}


def speedup(
    metric: Metric, subject: Mapping[str, Any] | None, baseline: Mapping[str, Any] | None
) -> float | None:
    """How many times better the subject is than the baseline on `metric` (None when not computable)."""
    a, b = metric.value(subject), metric.value(baseline)
    if a is None or b is None or a <= 0 or b <= 0:
        return None
    return a / b if metric.higher_is_better else b / a


def batch_speedup(subject: Mapping[str, Any] | None, baseline: Mapping[str, Any] | None) -> float | None:
    """How many times sooner the subject finished a fixed batch than the baseline (None when unknown)."""
    if not subject or not baseline or not subject["seconds"] > 0 or not baseline["seconds"] > 0:
        return None
    return float(baseline["seconds"] / subject["seconds"])


def format_value(value: float | None, unit: str = "") -> str:
    """A metric value for tables: 3 significant digits, grouped thousands."""
    if value is None:
        return "-"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def format_ratio(ratio: float | None) -> str:
    """A speed-up for tables: `3.21x`."""
    return "-" if ratio is None else f"{ratio:.2f}x"
