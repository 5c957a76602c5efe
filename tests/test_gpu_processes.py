"""Each server's GPU memory by the GPU's count (`loadgen.gpu_processes`): nvidia-smi's per-process
figure summed over a real process tree, and the report's reading of it beside the budget.

There is no GPU here: the stand-in nvidia-smi (tests/fixtures/nvidia_smi.py) lists the pids and
MiB the test gives it, and the processes are real ones started by the test.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from loadgen.compare.plan import ComparePlan
from loadgen.compare.run import CompareInputs, Comparison
from loadgen.compare.targets import probe
from loadgen.gpu_processes import GPU_PROCESSES_FILE, GpuProcessMemory, parse_apps
from loadgen.report.build import write_report
from loadgen.run_config import RequestOptions, Target
from loadgen.workloads.base import Prompt
from tests.fixtures.sim import SimFactory

PARENT = (
    "import subprocess, sys, time\n"
    "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
    "print(child.pid, flush=True)\n"
    "time.sleep(60)\n"
)


@pytest.fixture
def server_tree() -> Iterator[tuple[int, int]]:
    """A parent process with one child, as vLLM's API server and its engine: (parent pid, child pid)."""
    parent = subprocess.Popen([sys.executable, "-c", PARENT], stdout=subprocess.PIPE, text=True)
    assert parent.stdout is not None
    child = int(parent.stdout.readline())
    try:
        yield parent.pid, child
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(child, signal.SIGKILL)
        parent.kill()
        parent.wait()


def test_parse_apps_sums_a_pid_on_two_gpus_and_skips_what_it_cannot_read() -> None:
    text = "123, 4096\n123, 1024\n456, [N/A]\nnot a line\n789, 300\n"
    assert parse_apps(text) == {123: 5120.0, 789: 300.0}


def test_a_servers_processes_are_added_up_and_others_kept_apart(
    fake_nvidia_smi: Path, server_tree: tuple[int, int], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    parent, child = server_tree
    # the API server holds its CUDA context, the engine the rest; pid 4 is not ours
    monkeypatch.setenv("FAKE_SMI_APPS", f"{parent}:500,{child}:20000,{child}:480,4:7000")
    path = tmp_path / GPU_PROCESSES_FILE
    sampler = GpuProcessMemory({"vllm": parent, "gone": None}, path, interval_s=0.05)
    sampler.start()  # its first sample is taken before it returns
    monkeypatch.setenv("FAKE_SMI_APPS", f"{parent}:500,{child}:21000")  # the engine grows; close samples last
    entry = sampler.close()
    vllm = entry["servers"]["vllm"]
    assert vllm["peak_mib"] == 21500 and vllm["pids_seen"] == sorted([parent, child])
    assert vllm["samples"] >= 2 and entry["queries"] == vllm["samples"] and entry["failed_queries"] == 0
    assert entry["servers"]["gone"] == {"pid": None, "peak_mib": None, "samples": 0, "pids_seen": []}
    assert entry["other_pids"] == [4]
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert len(lines) == entry["queries"] and lines[0]["servers"] == {"vllm": 20980}


def test_a_failing_nvidia_smi_is_counted_not_raised(tmp_path: Path) -> None:
    sampler = GpuProcessMemory({"hf": 1}, tmp_path / GPU_PROCESSES_FILE, command="no-such-nvidia-smi")
    sampler.start()
    entry = sampler.close()
    assert entry["queries"] == entry["failed_queries"] >= 2
    assert entry["servers"]["hf"]["peak_mib"] is None


def test_compare_records_each_servers_gpu_memory_and_the_report_weighs_it_against_the_budget(
    sim_server_factory: SimFactory, fake_nvidia_smi: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with (
        sim_server_factory(ttft_ms=10, itl_ms=4, output_tokens=32, model="m") as fast,
        sim_server_factory(ttft_ms=20, itl_ms=8, output_tokens=32, model="m") as slow,
    ):
        monkeypatch.setenv("FAKE_SMI_APPS", f"{fast.process.pid}:26500,{slow.process.pid}:24880")
        infos = [probe("fast", fast.base_url), probe("slow", slow.base_url)]
        inputs = CompareInputs(
            infos,
            [Target(i.name, i.base_url, "m") for i in infos],
            [Prompt(text=f"prompt number {i} " * 4) for i in range(4)],
            {"kind": "synthetic", "input_len": 16, "output_len": 8},
            RequestOptions(max_tokens=8, ignore_eos=True),
            ComparePlan(levels=(2,), requests_per_level=4, warmup=0, offline_batches=(), probe_prompts=2),
            command=["test"],
            gpu_monitor=True,
            gpu_monitor_interval_ms=20,
        )
        outcome = Comparison(inputs, tmp_path / "run", lambda _: None).run()
    run = outcome.run_dir
    entry = json.loads((run / "run.json").read_text())["gpu_process_memory"]
    assert entry["servers"]["fast"]["peak_mib"] == 26500 and entry["servers"]["slow"]["peak_mib"] == 24880
    assert (run / GPU_PROCESSES_FILE).stat().st_size > 0
    text = write_report([run]).markdown.read_text()
    assert "| fast | 25.88 | - | - |" in text  # no budget: no verdict on it
    assert "GiB over the" not in text and "peak stayed within" not in text
    # The same run, had both servers been given 24 GiB (`--gpu-memory-gib 24`, as vLLM's account records):
    budgeted = tmp_path / "budgeted"
    shutil.copytree(run, budgeted)
    meta = json.loads((budgeted / "run.json").read_text())
    meta["servers"][0]["launch"] = {"gpu_memory": {"budget_gib": 24.0, "total_gib": 23.71}}
    (budgeted / "run.json").write_text(json.dumps(meta))
    text = write_report([budgeted]).markdown.read_text()
    assert "| fast | 25.88 | 23.71 | 24.00 |" in text and "| slow | 24.30 | - | 24.00 |" in text
    # slow's 0.30 GiB over is its CUDA context's size: only fast is over the budget
    assert (
        "fast held 25.88 GiB at its peak, 1.88 GiB over the 24 GiB budget both servers were given: "
        "2.17 GiB of it outside its own account of 23.71 GiB"
    ) in text
    assert "slow held" not in text
    # The HF server has no account of its own beyond its cap: its excess is all outside it.
    meta["gpu_process_memory"]["servers"]["slow"]["peak_mib"] = 25395
    (budgeted / "run.json").write_text(json.dumps(meta))
    text = write_report([budgeted]).markdown.read_text()
    assert (
        "slow held 24.80 GiB at its peak, 0.80 GiB over the 24 GiB budget both servers were given: "
        "memory outside its own count"
    ) in text
    # A server far under the budget (the HF server allocates as its batches need) is no finding.
    meta["gpu_process_memory"]["servers"]["fast"]["peak_mib"] = 25000
    meta["gpu_process_memory"]["servers"]["slow"]["peak_mib"] = 5962
    (budgeted / "run.json").write_text(json.dumps(meta))
    text = write_report([budgeted]).markdown.read_text()
    assert "peak stayed within 0.5 GiB of the 24 GiB budget (fast 24.41, slow 5.82 GiB)" in text
    assert "held" not in text.split("GPU's count", 1)[1].split("## ", 1)[0]
