"""The report's GPU section: every level's GPU figures, and host-bound levels named at the top."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from loadgen.gpu_monitor import GpuSample, summarize
from loadgen.report.build import write_report
from loadgen.report.console import verdict_lines

RUN = Path(__file__).parent.parent / "docs/results/gpu-h100-2026-12-05d-burst-gap/run-a"
MS = 1_000_000


def view(busy: float) -> dict[str, Any]:
    samples = [GpuSample(t * 200 * MS, 0, busy, 1980.0, 200.0, 3000.0) for t in range(5)]
    made = summarize(samples, 0, 1000 * MS)
    assert made is not None
    return made


def copy_run(tmp_path: Path, busy: dict[tuple[str, str], float]) -> Path:
    run = tmp_path / "run"
    shutil.copytree(RUN, run, ignore=shutil.ignore_patterns("*.md", "logs"))
    for path in run.glob("summary-*.json"):
        summary = json.loads(path.read_text())
        key = (summary["target"], summary["level"])
        if key in busy:
            summary["gpu"] = view(busy[key])
            path.write_text(json.dumps(summary))
    offline = json.loads((run / "offline.json").read_text())
    for batch in offline:
        key = (batch["target"], f"batch={batch['batch_size']}")
        if key in busy:
            batch["gpu"] = view(busy[key])
    (run / "offline.json").write_text(json.dumps(offline))
    return run


def test_host_bound_levels_are_named_at_the_top_and_every_level_is_shown(tmp_path: Path) -> None:
    run = copy_run(
        tmp_path,
        {("hf", "concurrency=256"): 37.0, ("vllm", "concurrency=256"): 80.0, ("hf", "batch=32"): 23.0},
    )
    written = write_report([run])
    assert verdict_lines(written.data)[0].startswith("HOST-BOUND: the GPU was busy less than 50%")
    text = written.markdown.read_text()
    verdict = text.split("## ")[1]
    assert "HOST-BOUND: the GPU was busy less than 50% of the time at hf concurrency=256 (37%), " in verdict
    assert "hf batch=32 (23%)" in verdict and "vllm concurrency=256" not in verdict.split("HOST-BOUND")[1]
    section = text.split("## GPU during each level")[1].split("\n## ")[0]
    rows = [line for line in section.splitlines() if line.startswith("| ") and "%" in line]
    assert len(rows) == 3
    assert any("vllm" in r and "80%" in r and "| ok" in r for r in rows)
    assert any("hf" in r and "batch=32" in r and "HOST-BOUND" in r for r in rows)


def test_a_run_without_gpu_samples_has_no_gpu_section(tmp_path: Path) -> None:
    text = write_report([copy_run(tmp_path, {})]).markdown.read_text()
    assert "GPU during each level" not in text and "HOST-BOUND" not in text
