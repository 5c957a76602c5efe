"""The report's table of the batches each naive-batching server formed (`server_batches` digests)."""

from __future__ import annotations

from typing import Any

from loadgen.report.data import ReportData
from loadgen.report.doc import Block, Table

NOTE = (
    "From the server's own record (`/batches`): every `generate` call it made during the level, "
    "warm-up requests included. rows: requests per call (mean, min-max); fill: rows / max batch size; "
    "padding: share of the padded prompt positions that are padding; row-steps used: the share of "
    "rows x decoding steps that made a token (a static batch runs as long as its longest row); decode "
    "ms/step: median over the batches of each batch's median step time, and the slowest single step. "
    "Throughput at a level is batching policy (rows, fill, row-steps used) times per-step cost "
    "(ms/step): this table separates the two, and only the step follows the host's speed."
)


def format_ms(value: Any) -> str:
    """A time in ms with one decimal; '-' when unknown."""
    return "-" if value is None else f"{float(value):.1f}"


def format_share(value: Any) -> str:
    """A share such as `row_step_yield` as a percentage; '-' when unknown."""
    return "-" if value is None else f"{float(value):.0%}"


def _row(label: str, name: str, formed: dict[str, Any]) -> list[str]:
    if not formed.get("batches"):
        return [label, name, "0", "-", "-", "-", "-", "-", "-"]
    return [
        label,
        name,
        str(formed["batches"]),
        f"{formed['rows_mean']:.1f} ({formed['rows_min']}-{formed['rows_max']})",
        f"{formed['fill_mean']:.0%}",
        f"{formed['padding_mean']:.0%}",
        format_share(formed.get("row_step_yield")),
        format_ms(formed.get("decode_step_ms_p50")),
        format_ms(formed.get("decode_step_ms_max")),
    ]


def batch_blocks(data: ReportData) -> list[Block]:
    """One table over every level and fixed batch that has a digest; nothing when none has."""
    rows: list[list[str]] = []
    for level in [*data.levels, *data.extra_levels]:
        for series in data.series:
            formed = (series.summaries.get(level) or {}).get("server_batches")
            if formed is not None:
                rows.append(_row(level, series.name, formed))
    for run in data.runs:
        for batch in run.offline:
            formed = batch.get("server_batches")
            if formed is not None:
                rows.append(_row(f"fixed batch of {batch['batch_size']}", str(batch["target"]), formed))
    if not rows:
        return []
    headers = [
        "level",
        "server",
        "batches",
        "rows",
        "fill",
        "padding",
        "row-steps used",
        "decode ms/step",
        "slowest step ms",
    ]
    return [NOTE, Table(headers, rows)]
