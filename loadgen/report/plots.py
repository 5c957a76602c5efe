"""The report's plots, as PNG bytes (matplotlib with the Agg backend).

matplotlib is optional (`pip install 'servebench[report]'`): without it `make_figures` returns no
figures and says why, and the report can be rebuilt elsewhere with `loadgen report RUN_DIR`.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from typing import Any

from loadgen.report.data import ReportData, Series
from loadgen.report.doc import Figure
from loadgen.report.lengths import length_histogram
from loadgen.report.ratios import METRIC_BY_KEY, speedup
from loadgen.report.variance import variance_figure

MISSING = (
    "plots left out: matplotlib is not installed "
    "(pip install 'servebench[report]', then `loadgen report RUN_DIR`)"
)


def _png(fig: Any) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return buffer.getvalue()


def _xy(data: ReportData, series: Series, key: str) -> tuple[list[float], list[float]]:
    xs: list[float] = []
    ys: list[float] = []
    for level in data.levels:
        summary = series.summaries.get(level)
        value = METRIC_BY_KEY[key].value(summary) if key in METRIC_BY_KEY else _float(summary, key)
        if value is not None:
            xs.append(data.level_values[level])
            ys.append(value)
    return xs, ys


def _float(summary: dict[str, Any] | None, key: str) -> float | None:
    value = None if summary is None else summary.get(key)
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _axes_x(ax: Any, data: ReportData) -> None:
    values = sorted(set(data.level_values.values()))
    if data.x_label == "concurrency" and values and min(values) >= 1 and max(values) / min(values) >= 8:
        ax.set_xscale("log", base=2)
    ax.set_xticks(values)
    ax.set_xticklabels([f"{v:g}" for v in values])
    ax.set_xlabel(data.x_label)
    ax.grid(True, alpha=0.3)


def _auto_log_y(ax: Any) -> None:
    """Log y-axis when the plotted values span more than 30x (e.g. a 10x faster server's latency)."""
    values = [y for line in ax.get_lines() for y in line.get_ydata() if y > 0]
    if values and max(values) / min(values) > 30:
        ax.set_yscale("log")


def throughput(data: ReportData, plt: Any) -> Figure:
    """Output throughput against the load level."""
    fig, ax = plt.subplots(figsize=(7, 4.2))
    for s in data.series:
        ax.plot(*_xy(data, s, "output_throughput"), marker="o", label=s.name)
    _axes_x(ax, data)
    ax.set_ylabel("output tokens/s")
    ax.set_title("Output throughput")
    ax.legend()
    return Figure("throughput.png", "Output throughput vs " + data.x_label, _png(fig))


def latency(data: ReportData, plt: Any) -> Figure:
    """TTFT, ITL and E2E p50 (solid) and p99 (dashed) against the load level."""
    fig, axes = plt.subplots(1, 3, figsize=(14, 4.2))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, (metric, title) in zip(
        axes, (("ttft", "TTFT"), ("itl", "ITL"), ("e2el", "E2E latency")), strict=True
    ):
        for i, s in enumerate(data.series):
            color = colors[i % len(colors)]
            ax.plot(*_xy(data, s, f"p50_{metric}_ms"), marker="o", color=color, label=f"{s.name} p50")
            ax.plot(
                *_xy(data, s, f"p99_{metric}_ms"),
                marker="s",
                linestyle="--",
                color=color,
                label=f"{s.name} p99",
            )
        _axes_x(ax, data)
        _auto_log_y(ax)
        ax.set_ylabel("ms (log scale)" if ax.get_yscale() == "log" else "ms")
        ax.set_title(title)
    axes[0].legend(fontsize=8)
    return Figure(
        "latency.png",
        "TTFT, ITL and E2E latency, p50 (solid) and p99 (dashed), vs " + data.x_label,
        _png(fig),
    )


def frontier(data: ReportData, plt: Any) -> Figure:
    """Latency-throughput frontier: each load level is a point (output tok/s, p50 E2E latency)."""
    fig, ax = plt.subplots(figsize=(7, 4.2))
    for s in data.series:
        xs, ys, labels = [], [], []
        for level in data.levels:
            summary = s.summaries.get(level)
            x, y = _float(summary, "output_throughput"), _float(summary, "p50_e2el_ms")
            if x is not None and y is not None:
                xs.append(x)
                ys.append(y)
                labels.append(f"{data.level_values[level]:g}")
        ax.plot(xs, ys, marker="o", label=s.name)
        for x, y, label in zip(xs, ys, labels, strict=True):
            ax.annotate(label, (x, y), textcoords="offset points", xytext=(4, 4), fontsize=8)
    _auto_log_y(ax)
    ax.set_xlabel("output tokens/s")
    ax.set_ylabel("E2E latency p50 (ms)" + (", log scale" if ax.get_yscale() == "log" else ""))
    ax.set_title(f"Latency-throughput frontier (points labelled by {data.x_label})")
    ax.grid(True, alpha=0.3)
    ax.legend()
    return Figure("frontier.png", "Latency-throughput frontier: lower and further right is better", _png(fig))


def goodput(data: ReportData, plt: Any) -> Figure | None:
    """Goodput (requests meeting every SLO per second) against the load level, when SLOs were given."""
    if not any(
        _float(s.summaries.get(level), "request_goodput") is not None
        for s in data.series
        for level in data.levels
    ):
        return None
    fig, ax = plt.subplots(figsize=(7, 4.2))
    for s in data.series:
        ax.plot(*_xy(data, s, "request_goodput"), marker="o", label=f"{s.name} goodput")
        ax.plot(
            *_xy(data, s, "request_throughput"), marker=".", linestyle=":", label=f"{s.name} all requests"
        )
    _axes_x(ax, data)
    ax.set_ylabel("requests/s")
    ax.set_title("Goodput under the SLOs")
    ax.legend(fontsize=8)
    return Figure(
        "goodput.png", "Goodput (requests meeting every SLO, per second) vs " + data.x_label, _png(fig)
    )


def speedups(data: ReportData, plt: Any) -> Figure | None:
    """Speed-up of each subject over its baseline, per metric, against the load level."""
    if not data.pairs:
        return None
    fig, ax = plt.subplots(figsize=(7, 4.2))
    for subject, base in data.pairs:
        a, b = data.series_named(subject), data.series_named(base)
        for key in ("output_throughput", "p50_ttft_ms", "p50_itl_ms", "p50_e2el_ms"):
            metric = METRIC_BY_KEY[key]
            xs, ys = [], []
            for level in data.levels:
                ratio = speedup(metric, a.summaries.get(level), b.summaries.get(level))
                if ratio is not None:
                    xs.append(data.level_values[level])
                    ys.append(ratio)
            label = metric.label if len(data.pairs) == 1 else f"{subject}/{base} {metric.label}"
            ax.plot(xs, ys, marker="o", label=label)
    ax.axhline(1.0, color="grey", linewidth=1)
    _axes_x(ax, data)
    ax.set_ylabel("speed-up (x, above 1 = subject better)")
    pair = data.pairs[0]
    ax.set_title(f"Speed-up of {pair[0]} over {pair[1]}" if len(data.pairs) == 1 else "Speed-ups")
    ax.legend(fontsize=8)
    return Figure("speedup.png", "Speed-up per metric vs " + data.x_label, _png(fig))


def offline(data: ReportData, plt: Any) -> Figure | None:
    """Fixed batches: output tokens/s per batch size and server."""
    rows = [(data.server_label(run, b["target"]), b) for run in data.runs for b in run.offline]
    if not rows:
        return None
    names = list(dict.fromkeys(label for label, _ in rows))
    sizes = sorted({int(b["batch_size"]) for _, b in rows})
    width = 0.8 / len(names)
    fig, ax = plt.subplots(figsize=(7, 4.2))
    for i, name in enumerate(names):
        values = []
        for size in sizes:
            match = [b for label, b in rows if label == name and int(b["batch_size"]) == size]
            values.append(float(match[0]["output_tokens_per_s"]) if match else 0.0)
        ax.bar([j + i * width for j in range(len(sizes))], values, width, label=name)
    ax.set_xticks([j + width * (len(names) - 1) / 2 for j in range(len(sizes))])
    ax.set_xticklabels([str(s) for s in sizes])
    ax.set_xlabel("prompts sent at once")
    ax.set_ylabel("output tokens/s")
    ax.set_title("Fixed batches")
    ax.grid(True, axis="y", alpha=0.3)
    ax.legend()
    return Figure("offline.png", "Fixed batches: output tokens/s by batch size", _png(fig))


BUILDERS: Sequence[Callable[[ReportData, Any], Figure | None]] = (
    throughput,
    latency,
    frontier,
    goodput,
    speedups,
    offline,
    variance_figure,
    length_histogram,
)


def make_figures(data: ReportData) -> tuple[list[Figure], str | None]:
    """Every figure that applies, or none and the reason."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return [], MISSING
    if not data.levels and not any(run.offline for run in data.runs):
        return [], "no measured levels to plot"
    figures = [figure for build in BUILDERS if (figure := build(data, plt)) is not None]
    return figures, None
