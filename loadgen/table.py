"""The console table: one column per run summary, one row per headline metric."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

Cell = Callable[[Mapping[str, Any]], str]


def _number(key: str, digits: int = 2) -> Cell:
    def cell(summary: Mapping[str, Any]) -> str:
        value = summary.get(key)
        if value is None or isinstance(value, bool) or not isinstance(value, int | float):
            return "-"
        return f"{value:,.{digits}f}"

    return cell


def _requests(summary: Mapping[str, Any]) -> str:
    completed, failed = summary.get("completed"), summary.get("failed")
    if completed is None and failed is None:
        return "-"
    return f"{completed if completed is not None else '-'} / {failed if failed is not None else '-'}"


def _goodput(summary: Mapping[str, Any]) -> str:
    if summary.get("request_goodput") is None:
        return "no SLO"
    return _number("request_goodput")(summary)


def _concurrency(summary: Mapping[str, Any]) -> str:
    mean = _number("achieved_concurrency", 1)(summary)
    peak = summary.get("max_concurrent_requests")
    return mean if peak is None else f"{mean} (max {peak})"


ROWS: tuple[tuple[str, Cell], ...] = (
    ("requests ok / failed", _requests),
    ("request throughput (req/s)", _number("request_throughput")),
    ("output throughput (tok/s)", _number("output_throughput")),
    ("TTFT mean (ms)", _number("mean_ttft_ms")),
    ("TTFT p50 (ms)", _number("p50_ttft_ms")),
    ("TTFT p99 (ms)", _number("p99_ttft_ms")),
    ("ITL mean (ms)", _number("mean_itl_ms")),
    ("ITL p99 (ms)", _number("p99_itl_ms")),
    ("TPOT mean (ms)", _number("mean_tpot_ms")),
    ("E2E mean (ms)", _number("mean_e2el_ms")),
    ("E2E p99 (ms)", _number("p99_e2el_ms")),
    ("goodput (req/s)", _goodput),
    ("achieved concurrency", _concurrency),
)

FOOTER = (
    "TTFT: start (the scheduled time in open loop, else the send) to the first event with generated text.",
    "ITL: gap between successive content events (per chunk). TPOT: (E2E - TTFT) / (output tokens - 1).",
)


def _error_rows(summaries: Sequence[Mapping[str, Any]]) -> list[tuple[str, Cell]]:
    classes: list[str] = []
    for summary in summaries:
        for name in summary.get("errors") or {}:
            if name not in classes:
                classes.append(name)
    if not classes:
        return [("errors", lambda summary: "none")]

    def count(name: str) -> Cell:
        return lambda summary: str((summary.get("errors") or {}).get(name, 0))

    return [(f"errors: {name}", count(name)) for name in sorted(classes)]


def format_summary_table(summaries: Sequence[Mapping[str, Any]], *, title: str | None = None) -> str:
    """Render run summaries side by side as an aligned plain-text table.

    Each summary is one column headed by its `label` key (or `run N`); a missing metric shows `-`.
    """
    headers = [str(summary.get("label") or f"run {i + 1}") for i, summary in enumerate(summaries)]
    cells = (*ROWS, *_error_rows(summaries))
    rows = [(name, [cell(summary) for summary in summaries]) for name, cell in cells]
    name_width = max(len("metric"), *(len(name) for name, _ in rows))
    widths = [max(len(header), *(len(values[i]) for _, values in rows)) for i, header in enumerate(headers)]

    def line(name: str, values: Sequence[str]) -> str:
        cells = [value.rjust(width) for value, width in zip(values, widths, strict=True)]
        return "  ".join([name.ljust(name_width), *cells]).rstrip()

    out: list[str] = []
    if title:
        out.append(title)
    header = line("metric", headers)
    out += [header, "-" * len(header)]
    out += [line(name, values) for name, values in rows]
    out += FOOTER
    return "\n".join(out)
