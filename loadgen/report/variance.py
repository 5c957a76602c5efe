"""The variance sweep in the report (`--sweep output-variance`): each server's output throughput and
the throughput ratio against the coefficient of variation of the output lengths sent."""

from __future__ import annotations

from typing import Any

from loadgen.compare.variance import AXIS
from loadgen.report.batches import format_ms, format_share
from loadgen.report.data import ReportData, Series
from loadgen.report.doc import Block, Figure, Table
from loadgen.report.ratios import METRIC_BY_KEY, format_ratio, format_value, speedup

THROUGHPUT = METRIC_BY_KEY["output_throughput"]


def is_variance_sweep(data: ReportData) -> bool:
    """True when the report's levels are the variance sweep's."""
    return data.x_label == AXIS and bool(data.levels)


def _output_mean(summary: dict[str, Any] | None) -> float | None:
    mean = (((summary or {}).get("workload") or {}).get("measured_output_lengths") or {}).get("mean")
    return float(mean) if isinstance(mean, int | float) else None


def _batching(data: ReportData) -> list[Series]:
    """The series whose server recorded its batches (the HF server's `/batches`) at some level."""
    return [s for s in data.series if any((v or {}).get("server_batches") for v in s.summaries.values())]


def _batch_cells(series: Series, level: str) -> list[str]:
    formed = (series.summaries.get(level) or {}).get("server_batches") or {}
    return [format_share(formed.get("row_step_yield")), format_ms(formed.get("decode_step_ms_p50"))]


def variance_blocks(data: ReportData) -> list[Block]:
    """A table: per level, the output-length spec, its CV and mean, each server's throughput, the
    ratios, and for a server that records its batches the share of row-steps that made a token and
    its median decode step (which together make its throughput: the first is batching, the second
    the host's and GPU's pace)."""
    if not is_variance_sweep(data):
        return []
    batching = _batching(data)
    rows = []
    for level in data.levels:
        first = next((s.summaries.get(level) for s in data.series if s.summaries.get(level)), None)
        spec = ((first or {}).get("workload") or {}).get("output_len_dist", "?")
        ratios = [
            speedup(
                THROUGHPUT,
                data.series_named(a).summaries.get(level),
                data.series_named(b).summaries.get(level),
            )
            for a, b in data.pairs
        ]
        rows.append(
            [
                str(spec),
                f"{data.level_values[level]:.2f}",
                format_value(_output_mean(first)),
                *(format_value(THROUGHPUT.value(s.summaries.get(level))) for s in data.series),
                *(format_ratio(r) for r in ratios),
                *(cell for s in batching for cell in _batch_cells(s, level)),
            ]
        )
    concurrency = ((next(iter(data.series[0].summaries.values()), {}) or {}).get("load") or {}).get(
        "concurrency"
    )
    return [
        Table(
            [
                "output lengths",
                "CV",
                "mean output",
                *(f"{s.name} tok/s" for s in data.series),
                *(f"{a}/{b}" for a, b in data.pairs),
                *(h for s in batching for h in (f"{s.name} row-steps used", f"{s.name} ms/step")),
            ],
            rows,
            caption=f"Output-length variance sweep at concurrency {concurrency}: the same mean output "
            "length, a growing spread (CV and mean of the output lengths the measured requests asked for)"
            + (
                "; row-steps used: the share of the batches' rows x decoding steps that made a token, "
                "which the host's speed does not move; ms/step: the median decode step, which it does"
                if batching
                else ""
            ),
        )
    ]


def variance_figure(data: ReportData, plt: Any) -> Figure | None:
    """Left: each server's output throughput against the CV; right: the throughput ratio against it."""
    if not is_variance_sweep(data):
        return None
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.2))
    cvs = [data.level_values[level] for level in data.levels]
    for series in data.series:
        points = [
            (cv, THROUGHPUT.value(series.summaries.get(level)))
            for cv, level in zip(cvs, data.levels, strict=True)
        ]
        known = [(x, y) for x, y in points if y is not None]
        left.plot([x for x, _ in known], [y for _, y in known], marker="o", label=series.name)
    left.set_ylabel("output tokens/s")
    left.set_title("Output throughput")
    for a, b in data.pairs:
        sa, sb = data.series_named(a), data.series_named(b)
        points = [
            (cv, speedup(THROUGHPUT, sa.summaries.get(level), sb.summaries.get(level)))
            for cv, level in zip(cvs, data.levels, strict=True)
        ]
        known = [(x, r) for x, r in points if r is not None]
        right.plot([x for x, _ in known], [r for _, r in known], marker="o", label=f"{a}/{b}")
    right.axhline(1.0, color="grey", linewidth=1)
    right.set_ylabel("throughput ratio (x)")
    right.set_title("Throughput ratio")
    for ax in (left, right):
        ax.set_xlabel("coefficient of variation of the output lengths")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
    from loadgen.report.plots import _png  # the report's one PNG writer

    return Figure("variance.png", "Output throughput and its ratio vs the output-length CV", _png(fig))
