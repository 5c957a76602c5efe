"""The report's capacity section on a run saved before probes carried a `burst` flag: its probes are
judged from their records, as `benchmarks.claims` judges them."""

from __future__ import annotations

import shutil
from pathlib import Path

from loadgen.report.build import write_report

RUN = Path(__file__).parent.parent / "docs/results/2026-12-06-claims/capacity-7b"


def test_an_old_runs_burst_passes_are_judged_from_its_records(tmp_path: Path) -> None:
    # The H100 7B run of 2026-12-06: vLLM passed every probe up to 16 req/s, each on arrivals spanning
    # under 3 median latencies; its report, written then, called its capacity 16 req/s and the ratio
    # "at least 64.00x".
    run = tmp_path / "run"
    shutil.copytree(RUN, run, ignore=shutil.ignore_patterns("*.md", "logs"))
    text = write_report([run]).markdown.read_text()
    assert "**vllm** none sustained req/s vs **hf** below 0.25 req/s (-)." in text
    section = text.split("## Capacity at SLO")[1].split("\n## ")[0]
    assert "| vllm | none sustained | - | 4 |" in section and "| vllm over hf | - |" in section
    rows = [line for line in section.splitlines() if line.startswith("| vllm | ")]
    bursts = [line for line in rows if "| pass as a burst only (arrivals over " in line]
    assert len(bursts) == 4
    assert (
        "| 16 | 80 / 80 | 100% | 6.5 | pass as a burst only (arrivals over 5.49 s, under 3 x the "
        in bursts[3]
    )
    assert "| hf | below 0.25 | 0.25 | 4 |" in section
