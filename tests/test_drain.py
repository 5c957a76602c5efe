"""The drain of a finite set of requests: pooled over repeats, and named in the report."""

from __future__ import annotations

import json
import lzma
import shutil
from pathlib import Path

import pytest

from benchmarks import claims
from loadgen.compare.repeats import pool_repeats
from loadgen.record import RequestRecord
from loadgen.report.build import write_report
from loadgen.report.console import verdict_lines
from loadgen.results import iter_records
from loadgen.run_config import LoadSpec
from loadgen.runner import LevelResult
from loadgen.selfcheck import SelfCheckReport
from loadgen.stats import drain, summarize

RUN_13B = Path(__file__).parent.parent / "docs/results/2026-12-06b-claims-13b/n1-13b"
MS = 1_000_000


def _record(index: int, start_s: float, token_s: list[float]) -> RequestRecord:
    origin = 7_000_000_000
    return RequestRecord(
        request_id=f"x-{index}",
        target="vllm",
        index=index,
        api="completions",
        stream=True,
        send_ns=origin + int(start_s * 1000 * MS),
        content_ns=[origin + int(t * 1000 * MS) for t in token_s],
        end_ns=origin + int(token_s[-1] * 1000 * MS),
        output_tokens=len(token_s),
        prompt_tokens=4,
        tokens_source="usage",
    )


def _level(records: list[RequestRecord], duration_s: float) -> LevelResult:
    check = SelfCheckReport(1.0, 0.0, 0.0, None, None, None, None, None, None, None, None)
    load = LoadSpec(mode="closed", concurrency=10, num_requests=len(records))
    summary = summarize(records, duration_s=duration_s)
    summary.update(target="vllm", level="concurrency=10", label="vllm", load={}, request={})
    return LevelResult("vllm", "concurrency=10", load, records, summary, check, duration_s)


def test_pooled_drain_adds_each_repeat_s_time_before_its_own_drain() -> None:
    # Repeat 1 (0-10 s): nine 10-token requests over its first second and one over 10 s: 90% of
    # tokens by 1 s. Repeat 2 (100-102 s), one steady request: 90% by 1.8 s of its 2 s.
    first = [_record(i, 0, [0.1 * k for k in range(1, 11)]) for i in range(9)]
    first.append(_record(9, 0, [1.0 * k for k in range(1, 11)]))
    second = [_record(10, 100, [100 + 0.02 * k for k in range(1, 101)])]
    pooled = pool_repeats([_level(first, 10.0), _level(second, 2.0)], percentiles=(50,), slo=None)
    assert pooled["drain_share"] == pytest.approx(1 - (1.0 + 1.8) / 12.0)
    assert pooled["output_throughput_before_drain"] == pytest.approx(0.9 * 200 / (1.0 + 1.8))


def test_the_report_names_a_drain_bound_level_with_both_ratios(tmp_path: Path) -> None:
    # The 13B H100 run (48 ShareGPT requests at once): vLLM's longest answer ran on alone for the
    # last third of its level. Its summaries predate the drain fields, so they are rebuilt from the
    # committed records.
    run = tmp_path / "n1-13b"
    shutil.copytree(RUN_13B, run)
    with lzma.open(run / "requests.jsonl.xz", "rb") as packed:
        (run / "requests.jsonl").write_bytes(packed.read())
    for summary in run.glob("summary-*.json"):
        summary.unlink()
    written = write_report([run])
    lines = verdict_lines(written.data)
    drain = next(line for line in lines if line.startswith("DRAIN at concurrency=48"))
    assert "vllm took 33% of its window for its last 10% of output tokens" in drain
    assert "19.23x over the whole window and 24.34x over the first 90% of tokens" in drain
    assert "hf took" not in drain  # 16%: under the flag
    assert "DRAIN at concurrency=48" in written.markdown.read_text(encoding="utf-8")


def test_a_level_without_drain_figures_gets_no_note(tmp_path: Path) -> None:
    # Summaries saved before the fields existed (the report goes to tmp_path, not the committed run).
    written = write_report([RUN_13B.parent / "n3-13b"], tmp_path)
    assert not any(line.startswith("DRAIN") for line in verdict_lines(written.data))


def test_a_claims_row_notes_the_drain_with_the_ratio_before_it(tmp_path: Path) -> None:
    # The committed 13B run's summaries, given the drain fields its records yield.
    run = tmp_path / "n1-13b"
    shutil.copytree(RUN_13B, run)
    records = list(iter_records(run / "requests.jsonl.xz"))
    for path in run.glob("summary-*.json"):
        summary = json.loads(path.read_text())
        done = [r for r in records if r.target == summary["target"] and r.level == summary["level"] and r.ok]
        summary["drain_share"], summary["output_throughput_before_drain"] = drain(done, summary["duration"])
        path.write_text(json.dumps(summary))
    found = claims.throughput_ratio(run, "concurrency=48")
    assert found.value == pytest.approx(19.23, abs=0.005)
    assert found.notes[-1] == (
        "drain: the last 10% of output tokens took 33% of vllm's window, 16% of hf's window; "
        "over the first 90% of tokens 24.3x"
    )
