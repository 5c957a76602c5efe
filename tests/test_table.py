"""The console table renders summaries side by side, aligned, with every headline metric."""

from __future__ import annotations

from typing import Any

from loadgen.record import RequestRecord
from loadgen.stats import SLO, summarize
from loadgen.table import format_summary_table

MS = 1_000_000


def _record(index: int, ttft_ms: int, gap_ms: int, error_class: str | None = None) -> RequestRecord:
    stamps = [(ttft_ms + gap_ms * i) * MS for i in range(4)]
    return RequestRecord(
        request_id=str(index),
        target="t",
        index=index,
        api="chat",
        stream=True,
        send_ns=0,
        content_ns=[] if error_class else stamps,
        end_ns=stamps[-1],
        output_tokens=0 if error_class else 4,
        prompt_tokens=8,
        error_class=error_class,
        error_message="boom" if error_class else None,
    )


def _summary(label: str, ttft_ms: int, errors: tuple[str, ...] = ()) -> dict[str, Any]:
    records = [_record(i, ttft_ms, 10) for i in range(3)]
    records += [_record(10 + i, 0, 0, error_class=name) for i, name in enumerate(errors)]
    summary = summarize(records, duration_s=2.0, slo=SLO(ttft_ms=150))
    summary["label"] = label
    return summary


def _row(table: str, name: str) -> list[str]:
    line = next(line for line in table.splitlines() if line.startswith(name + " "))
    return line[len(name) :].split()


def test_one_column_per_summary_headed_by_its_label() -> None:
    table = format_summary_table([_summary("vllm", 100), _summary("hf", 200)], title="chat, 64 in / 4 out")
    lines = table.splitlines()
    assert lines[0] == "chat, 64 in / 4 out"
    assert lines[1].split() == ["metric", "vllm", "hf"]
    assert _row(table, "TTFT mean (ms)") == ["100.00", "200.00"]
    assert _row(table, "ITL mean (ms)") == ["10.00", "10.00"]
    assert _row(table, "requests ok / failed") == ["3", "/", "0", "3", "/", "0"]
    assert _row(table, "goodput (req/s)") == ["1.50", "0.00"]


def test_rows_cover_every_headline_metric() -> None:
    table = format_summary_table([_summary("a", 100)])
    for name in (
        "requests ok / failed",
        "request throughput (req/s)",
        "output throughput (tok/s)",
        "TTFT mean (ms)",
        "TTFT p50 (ms)",
        "TTFT p99 (ms)",
        "ITL mean (ms)",
        "ITL p99 (ms)",
        "TPOT mean (ms)",
        "E2E mean (ms)",
        "E2E p99 (ms)",
        "goodput (req/s)",
        "achieved concurrency",
        "errors",
    ):
        assert any(line.startswith(name) for line in table.splitlines()), name
    assert "TPOT: (E2E - TTFT) / (output tokens - 1)" in table


def test_columns_are_right_aligned() -> None:
    table = format_summary_table([_summary("a-long-label", 100), _summary("b", 2000)])
    body = [line for line in table.splitlines()[:-2] if line and not line.startswith("-")]
    assert len({len(line) for line in body}) == 1


def test_error_classes_get_a_row_each_with_zero_where_absent() -> None:
    table = format_summary_table(
        [_summary("a", 100, ("timeout", "timeout")), _summary("b", 100, ("http_5xx",))]
    )
    assert _row(table, "errors: http_5xx") == ["0", "1"]
    assert _row(table, "errors: timeout") == ["2", "0"]


def test_missing_metrics_show_a_dash_and_unlabelled_columns_are_numbered() -> None:
    table = format_summary_table([{"completed": 1, "failed": 0}, {}])
    assert table.splitlines()[0].split() == ["metric", "run", "1", "run", "2"]
    assert _row(table, "TTFT p99 (ms)") == ["-", "-"]
    assert _row(table, "goodput (req/s)") == ["no", "SLO", "no", "SLO"]
    assert _row(table, "errors") == ["none", "none"]
