"""The comparison's summary table for the terminal: per level, each server's figures and the speed-up."""

from __future__ import annotations

from loadgen.report.capacity import capacity_headline
from loadgen.report.content import headline, level_warnings, metric_cells
from loadgen.report.data import ReportData
from loadgen.report.extra_levels import extra_headlines
from loadgen.report.ratios import METRIC_BY_KEY, batch_speedup, format_ratio, format_value
from loadgen.report.tails import DAGGER, FOOTNOTE

CONSOLE_METRICS = (
    "output_throughput",
    "p50_ttft_ms",
    "p99_ttft_ms",
    "p50_itl_ms",
    "p50_e2el_ms",
    "p99_e2el_ms",
    "request_goodput",
)


def summary_table(data: ReportData) -> str:
    """An aligned text table: one block of rows per level, one column per series and per speed-up."""
    names = [s.name for s in data.series]
    ratio_heads = [f"{a}/{b}" for a, b in data.pairs]
    rows: list[list[str]] = []
    for level in [*data.levels, *data.extra_levels]:
        first = True
        for key in CONSOLE_METRICS:
            metric = METRIC_BY_KEY[key]
            cells = metric_cells(data, metric, level)
            if cells is None:
                continue
            rows.append([level if first else "", f"{metric.label} ({metric.unit})", *cells])
            first = False
    headers = ["level", "metric", *names, *ratio_heads]
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]

    def line(cells: list[str]) -> str:
        out = [cells[0].ljust(widths[0]), cells[1].ljust(widths[1])]
        out += [c.rjust(w) for c, w in zip(cells[2:], widths[2:], strict=True)]
        return "  ".join(out).rstrip()

    text = [line(headers), "-" * sum(widths) + "-" * 2 * (len(widths) - 1)]
    text += [line(r) for r in rows]
    if ratio_heads:
        text.append(
            "speed-up above 1: the first server is better (throughput ratio, or latency ratio inverted)"
        )
    if any(DAGGER in cell for row in rows for cell in row):
        text.append(FOOTNOTE)
    return "\n".join(text)


def verdict_lines(data: ReportData) -> list[str]:
    """The report's headline sentences as plain text, client-bound, host-bound, unsteady and
    drain-bound levels named first."""
    lines = [
        *level_warnings(data),
        *headline(data),
        *extra_headlines(data),
        *capacity_headline(data),
    ]
    return [line.replace("**", "").replace("`", "") for line in lines]


def offline_table(data: ReportData) -> str:
    """Fixed batches as text: per batch size, each server's time to finish and output tok/s."""
    batches = data.primary.offline
    names = list(dict.fromkeys(str(b["target"]) for b in batches))
    by = {(str(b["target"]), int(b["batch_size"])): b for b in batches}
    headers = ["batch", *[f"{n} s / tok/s" for n in names], *[f"{a}/{b}" for a, b in data.pairs]]
    rows = []
    for size in sorted({int(b["batch_size"]) for b in batches}):
        cells = [str(size)]
        for name in names:
            b = by.get((name, size))
            speed = "-" if b is None else format_value(b["output_tokens_per_s"])
            cells.append("-" if b is None else f"{b['seconds']:.2f} / {speed}")
        for a, base in data.pairs:
            cells.append(format_ratio(batch_speedup(by.get((a, size)), by.get((base, size)))))
        rows.append(cells)
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    lines = ["  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)) for row in [headers, *rows]]
    return "fixed batches (prompts sent at once; time to finish / output tok/s):\n" + "\n".join(lines)
