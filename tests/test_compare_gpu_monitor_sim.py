"""`loadgen compare` with the GPU monitor on, end to end against two scripted servers.

The stand-in nvidia-smi (tests/fixtures/nvidia_smi.py) reports GPU 0 at 20-22% busy: every level and
fixed batch long enough to judge comes out host-bound, in its summary, in `offline.json`, on the
console and at the top of the report.
"""

from __future__ import annotations

import json
from pathlib import Path

from loadgen.compare.plan import ComparePlan
from loadgen.compare.run import CompareInputs, Comparison
from loadgen.compare.targets import probe
from loadgen.report.build import write_report
from loadgen.run_config import RequestOptions, Target
from loadgen.workloads.base import Prompt
from tests.fixtures.sim import SimFactory


def test_every_level_and_batch_carries_the_gpu_view(
    sim_server_factory: SimFactory, fake_nvidia_smi: Path, tmp_path: Path
) -> None:
    lines: list[str] = []
    with (
        sim_server_factory(ttft_ms=10, itl_ms=4, output_tokens=64, model="m") as fast,
        sim_server_factory(ttft_ms=20, itl_ms=8, output_tokens=64, model="m") as slow,
    ):
        infos = [probe("fast", fast.base_url), probe("slow", slow.base_url)]
        inputs = CompareInputs(
            infos,
            [Target(i.name, i.base_url, "m") for i in infos],
            [Prompt(text=f"prompt number {i} " * 4) for i in range(8)],
            {"kind": "synthetic", "input_len": 16, "output_len": 12},
            RequestOptions(max_tokens=12, ignore_eos=True),
            ComparePlan(
                levels=(2,),
                requests_per_level=4,
                warmup=0,
                offline_batches=(2,),
                baseline="slow",
                probe_prompts=2,
            ),
            command=["test"],
            gpu_monitor=True,
            gpu_monitor_interval_ms=5,  # a level here lasts 0.1-0.3 s
        )
        outcome = Comparison(inputs, tmp_path / "run", lines.append).run()
    run = outcome.run_dir
    assert outcome.exit_code == 0
    for summary in outcome.summaries:
        gpu = summary["gpu"]
        assert gpu["gpu"] == 0 and 20 <= gpu["busy_pct"] <= 22 and gpu["host_bound"] is True
    offline = json.loads((run / "offline.json").read_text())
    assert len(offline) == 2 and all(b["gpu"]["busy_pct"] >= 20 for b in offline)
    assert sum("GPU busy" in line and "(host-bound)" in line for line in lines) == 4
    assert (run / "gpu-state.jsonl").stat().st_size > 0
    text = write_report([run]).markdown.read_text()
    assert "HOST-BOUND: the GPU was busy less than 50% of the time at fast concurrency=2" in text
    assert "## GPU during each level" in text
    assert "| gpus | NVIDIA H100 80GB HBM3 (81559 MiB), NVIDIA H100 80GB HBM3 (81559 MiB) |" in text
