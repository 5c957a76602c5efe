"""Levels beside the sweep (the demo's level of ShareGPT traffic): a sentence for the verdict and a
table each, kept off the sweep's plots (their load would share an x value with a sweep level)."""

from __future__ import annotations

from typing import Any

from loadgen.report.data import ReportData
from loadgen.report.doc import Block, Table
from loadgen.report.ratios import METRIC_BY_KEY, METRICS, format_ratio, format_value, speedup


def _workload_name(data: ReportData, level: str) -> str:
    for series in data.series:
        workload = (series.summaries.get(level) or {}).get("workload") or {}
        if workload.get("name"):
            return str(workload["name"])
    return level


def extra_headlines(data: ReportData) -> list[str]:
    """Per extra level and pair: the throughput ratio and the p50 latencies, naming the traffic."""
    lines = []
    throughput, ttft, e2e = (METRIC_BY_KEY[k] for k in ("output_throughput", "p50_ttft_ms", "p50_e2el_ms"))
    for level in data.extra_levels:
        for subject, base in data.pairs:
            sa, sb = (
                data.series_named(subject).summaries.get(level),
                data.series_named(base).summaries.get(level),
            )
            ratio = speedup(throughput, sa, sb)
            if ratio is None:
                continue
            lines.append(
                f"On {_workload_name(data, level)} (`{level}`): **{subject}** delivers "
                f"**{format_ratio(ratio)}** the output throughput of **{base}** "
                f"({format_value(throughput.value(sa))} vs {format_value(throughput.value(sb))} tok/s); "
                f"TTFT p50 {format_value(ttft.value(sa))} vs "
                f"{format_value(ttft.value(sb))} ms, E2E p50 {format_value(e2e.value(sa))} vs "
                f"{format_value(e2e.value(sb))} ms."
            )
    return lines


def _cells(data: ReportData, level: str, key: str) -> list[str] | None:
    metric = METRIC_BY_KEY[key]
    values = [metric.value(s.summaries.get(level)) for s in data.series]
    if all(v is None for v in values):
        return None
    ratios = [
        speedup(metric, data.series_named(a).summaries.get(level), data.series_named(b).summaries.get(level))
        for a, b in data.pairs
    ]
    return [f"{metric.label} ({metric.unit})", *map(format_value, values), *map(format_ratio, ratios)]


def extra_level_blocks(data: ReportData) -> list[Block]:
    """One table per extra level: each server's figures and the speed-ups."""
    blocks: list[Block] = []
    for level in data.extra_levels:
        rows: list[list[str]] = []
        summaries: list[dict[str, Any]] = [s.summaries.get(level) or {} for s in data.series]
        rows.append(
            [
                "requests ok / failed",
                *(f"{s.get('completed', '-')} / {s.get('failed', '-')}" for s in summaries),
                *("" for _ in data.pairs),
            ]
        )
        rows += [cells for metric in METRICS if (cells := _cells(data, level, metric.key)) is not None]
        blocks.append(
            Table(
                ["metric", *(s.name for s in data.series), *(f"{a}/{b}" for a, b in data.pairs)],
                rows,
                caption=f"{level}: {_workload_name(data, level)}",
            )
        )
    return blocks
