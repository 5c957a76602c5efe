"""95% confidence intervals of each server's figures and each speed-up, from the saved requests.

Each repeat's requests are found in `requests.jsonl` by the `id_prefix` its summary records (a run
saved before repeats existed: every request of the target at the level, as one repeat). The maths
is `loadgen.stats_ci`: a hierarchical bootstrap, seeded by the run's seed, so a report rebuilt from
the same files shows the same intervals.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from loadgen.record import RequestRecord
from loadgen.report.data import ReportData, Series
from loadgen.report.doc import Block, Table
from loadgen.report.ratios import METRIC_BY_KEY, Metric, format_value
from loadgen.stats_ci import Interval, Repeat, Statistic, percentile_of, rate, ratio_interval, seed_for
from loadgen.stats_ci import value_interval as bootstrap_value

NS_PER_MS = 1e6


@dataclass(frozen=True)
class IntervalMetric:
    """A metric given with an interval: how to read a request's values and the statistic over them."""

    metric: Metric
    values: Callable[[RequestRecord], list[float]]
    statistic: Statistic
    needs_repeats: bool


def _one(value: int | None, scale: float = 1.0) -> list[float]:
    return [] if value is None else [value / scale]


INTERVAL_METRICS: tuple[IntervalMetric, ...] = (
    IntervalMetric(
        METRIC_BY_KEY["output_throughput"], lambda r: _one(r.output_tokens or 0), rate, needs_repeats=True
    ),
    IntervalMetric(
        METRIC_BY_KEY["p50_ttft_ms"], lambda r: _one(r.ttft_ns, NS_PER_MS), percentile_of(50), False
    ),
    IntervalMetric(
        METRIC_BY_KEY["p50_itl_ms"], lambda r: [g / NS_PER_MS for g in r.itls_ns], percentile_of(50), False
    ),
    IntervalMetric(
        METRIC_BY_KEY["p50_e2el_ms"], lambda r: _one(r.e2e_ns, NS_PER_MS), percentile_of(50), False
    ),
)


@dataclass(frozen=True)
class LevelIntervals:
    """One metric at one level: each series' figure and each pair's speed-up, with intervals."""

    level: str
    metric: Metric
    values: dict[str, Interval]
    ratios: dict[tuple[str, str], Interval]
    repeats: int


def _records_by_prefix(data: ReportData) -> dict[str, dict[str, list[RequestRecord]]]:
    """Per run label: measured, successful records grouped by request-id prefix (and by target|level)."""
    out: dict[str, dict[str, list[RequestRecord]]] = {}
    for run in data.runs:
        groups: dict[str, list[RequestRecord]] = {}
        for record in run.saved.records():
            if record.warmup or not record.ok:
                continue
            groups.setdefault(record.request_id.rsplit("-", 1)[0], []).append(record)
            groups.setdefault(f"{record.target}|{record.level}", []).append(record)
        out[run.label] = groups
    return out


def _runs_of(series: Series, level: str) -> list[dict[str, Any]]:
    """The summaries of the level's repeats (or its one summary)."""
    repeats = series.repeats.get(level)
    if repeats:
        return [repeats[k] for k in sorted(repeats)]
    summary = series.summaries.get(level)
    return [summary] if summary else []


def _repeats(
    series: Series, level: str, groups: dict[str, list[RequestRecord]], spec: IntervalMetric
) -> list[Repeat]:
    out = []
    for summary in _runs_of(series, level):
        prefix = summary.get("id_prefix")
        records = groups.get(str(prefix)) if prefix else groups.get(f"{series.target}|{level}")
        if not records:  # no saved records (deleted, or none succeeded): no sample, not a zero
            continue
        out.append(Repeat.of([spec.values(r) for r in records], float(summary.get("duration") or 0.0)))
    return out


def compute_intervals(data: ReportData, resamples: int = 1000) -> list[LevelIntervals]:
    """Every interval the report shows (cached on `data`: the verdict and the tables share them)."""
    cached = data.cache.get("intervals")
    if cached is not None:
        return list(cached)
    seed = int(data.primary.meta.get("seed") or 0)
    groups = _records_by_prefix(data)
    out: list[LevelIntervals] = []
    for level in data.levels:
        for spec in INTERVAL_METRICS:
            samples = {s.name: _repeats(s, level, groups[s.run], spec) for s in data.series}
            values = {
                name: bootstrap_value(
                    reps,
                    spec.statistic,
                    needs_repeats=spec.needs_repeats,
                    resamples=resamples,
                    seed=seed_for(seed, f"{name}|{level}|{spec.metric.key}"),
                )
                for name, reps in samples.items()
                if reps
            }
            ratios = {
                (a, b): ratio_interval(
                    samples[a],
                    samples[b],
                    spec.statistic,
                    higher_is_better=spec.metric.higher_is_better,
                    needs_repeats=spec.needs_repeats,
                    resamples=resamples,
                    seed=seed_for(seed, f"{a}/{b}|{level}|{spec.metric.key}"),
                )
                for a, b in data.pairs
                if samples.get(a) and samples.get(b)
            }
            counts = [len(reps) for reps in samples.values() if reps]
            out.append(LevelIntervals(level, spec.metric, values, ratios, min(counts) if counts else 0))
    data.cache["intervals"] = out
    return out


def ratio_for(data: ReportData, pair: tuple[str, str], level: str, key: str) -> Interval | None:
    """The speed-up interval of `pair` on metric `key` at `level` (None when not computed)."""
    for entry in compute_intervals(data):
        if entry.level == level and entry.metric.key == key:
            return entry.ratios.get(pair)
    return None


def format_interval(interval: Interval | None, ratio: bool = False) -> str:
    """`2.80x (2.51–3.12)`, `412 (398–430)`, or the estimate alone when there is no interval."""
    if interval is None or interval.estimate is None:
        return "-"

    def fmt(value: float) -> str:
        return f"{value:.2f}" if ratio else format_value(value)

    head = fmt(interval.estimate) + ("x" if ratio else "")
    if interval.low is None or interval.high is None:
        return head
    return f"{head} ({fmt(interval.low)}–{fmt(interval.high)})"


def _why_none(entry: LevelIntervals) -> str:
    if entry.metric.key == "output_throughput" and entry.repeats < 2:
        return " (no interval: a throughput varies between runs, it needs --repeats 2 or more)"
    return ""


def interval_blocks(data: ReportData) -> list[Block]:
    """The section's tables: per level and metric, each figure and speed-up with its 95% interval."""
    entries = [e for e in compute_intervals(data) if e.values]
    if not entries:
        return []
    blocks: list[Block] = [
        "Each figure with its 95% confidence interval in brackets. Method (the last column): a "
        "hierarchical bootstrap, 1,000 resamples, seeded by the run's `--seed`: repeats are drawn with "
        "replacement (the same repeat numbers for both servers of a speed-up, since they ran back to "
        "back), then requests within each drawn repeat; with 1 repeat it is a bootstrap over requests, "
        "which sees request-to-request spread but not run-to-run drift. Throughput has no per-request "
        "spread, so it gets an interval only from 2 or more repeats. Figures here are pooled over the "
        "repeats (see docs/comparison.md)."
    ]
    names = [s.name for s in data.series]
    heads = [f"{a}/{b}" for a, b in data.pairs]
    rows = []
    for entry in entries:
        label = f"{entry.metric.label} ({entry.metric.unit})"
        rows.append(
            [
                entry.level,
                label,
                *(format_interval(entry.values.get(n)) for n in names),
                *(format_interval(entry.ratios.get(p), ratio=True) for p in data.pairs),
                _method(entry) + _why_none(entry),
            ]
        )
    blocks.append(Table(["level", "metric", *names, *heads, "interval"], rows))
    return blocks


def _method(entry: LevelIntervals) -> str:
    methods = {i.method for i in [*entry.values.values(), *entry.ratios.values()]}
    return "; ".join(sorted(methods))


def repeats_of(data: ReportData, level: str) -> int:
    """How many repeats the level ran (the fewest over the series)."""
    counts = [len(_runs_of(s, level)) for s in data.series if _runs_of(s, level)]
    return min(counts) if counts else 0
