"""The report's server-side view: each level's TTFT and queue time as the server measured them
(deltas of its `vllm:` histograms over the level, `loadgen.server_metrics`) beside the client's, and
the note on levels rebuilt from a partial run."""

from __future__ import annotations

from typing import Any

from loadgen.rebuild import REBUILT_NOTE
from loadgen.report.data import ReportData
from loadgen.report.doc import Block, Callout, Table
from loadgen.report.ratios import format_value

GAP_TEXT = (
    "Server-side figures are the deltas of each server's own `vllm:` histograms over the level "
    "(scraped from `/metrics`; every request of the level, warm-up included), so the client column "
    "covers the same requests. The server starts its clock when the request reaches it, the client "
    "when it sends (open loop: when it was scheduled). The TTFT gap (client mean minus server mean) "
    "is what neither side's queue shows: the HTTP request and response crossing the network and the "
    "server's HTTP layer (parsing, tokenizing the prompt before the engine sees it, streaming the first "
    "event out) and the client reading it. Server queue time is the part of the server's TTFT spent "
    "waiting for a batch slot: a TTFT that grows with load while the gap stays flat is queueing inside "
    "the server. Means are exact (histogram sums); server percentiles are interpolated within the "
    "histogram's buckets, so they are coarse."
)


def _ms(view: dict[str, Any] | None, key: str = "mean_ms") -> Any:
    return None if not view else view.get(key)


def _gap(client: Any, server: Any) -> str:
    if client is None or server is None:
        return "-"
    return f"{client - server:+.1f}"


def server_view_rows(data: ReportData) -> list[list[str]]:
    """One row per series and level that has a server view."""
    rows: list[list[str]] = []
    for series in data.series:
        for level in data.levels:
            view = (series.summaries.get(level) or {}).get("server_metrics")
            if not isinstance(view, dict):
                continue
            if "server" not in view:
                rows.append(
                    [
                        series.name,
                        level,
                        "-",
                        "-",
                        "-",
                        "-",
                        "-",
                        "-",
                        "-",
                        f"not scraped: {view.get('error')}",
                    ]
                )
                continue
            server, client = view["server"], view.get("client") or {}
            s_ttft, c_ttft = server.get("ttft"), client.get("ttft")
            rows.append(
                [
                    series.name,
                    level,
                    f"{_ms(s_ttft, 'count') if s_ttft else '-'} / {client.get('succeeded', '-')}",
                    format_value(_ms(c_ttft)),
                    format_value(_ms(s_ttft)),
                    _gap(_ms(c_ttft), _ms(s_ttft)),
                    format_value(_ms(server.get("queue"))),
                    f"{format_value(_ms(c_ttft, 'p50_ms'))} / {format_value(_ms(s_ttft, 'p50_ms'))}",
                    f"{format_value(_ms(client.get('e2e')))} / {format_value(_ms(server.get('e2e')))}",
                    format_value(server.get("peak_waiting")),
                ]
            )
    return rows


def server_view_blocks(data: ReportData) -> list[Block]:
    """The section: the table and what the gap between the two sides means (empty: nothing scraped)."""
    rows = server_view_rows(data)
    if not rows:
        return []
    headers = [
        "server",
        "level",
        "requests (server / client ok)",
        "TTFT mean, client (ms)",
        "TTFT mean, server (ms)",
        "gap (ms)",
        "server queue time mean (ms)",
        "TTFT p50 client / server (ms)",
        "E2E mean client / server (ms)",
        "peak waiting",
    ]
    return [GAP_TEXT, Table(headers, rows)]


def rebuilt_blocks(data: ReportData) -> list[Block]:
    """A warning naming the levels rebuilt from `requests.jsonl` (the run died before their summaries)."""
    labels = [
        str(s.get("label"))
        for series in data.series
        for s in series.summaries.values()
        if s.get("rebuilt") == REBUILT_NOTE
    ]
    if not labels:
        return []
    return [
        Callout(
            "warn",
            f"{len(labels)} level(s) {REBUILT_NOTE} ({', '.join(labels)}): the run stopped before it "
            "wrote their summaries, so they were rebuilt from requests.jsonl; they count only the "
            "requests that finished, and carry no self-check.",
        )
    ]
