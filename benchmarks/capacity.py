"""Capacity: how many streamed tokens and requests per second one client core sustains, per tool.

The scripted server sends 256 tokens per request as fast as it can (`--itl-ms 0 --ttft-ms 0`), one
SSE event per write unless `--events-per-write` says otherwise, pinned to its own core. Each tool runs
as a subprocess pinned to the other core, as a closed loop at `--concurrency`; runs are interleaved
(tool A, tool B, tool A, ...) so every tool meets the same background load. Every tool is judged the
same way, from outside: the server's truth gives the measured window (first request received to last
response ended, leaving out a lone start-up test request), the requests and the tokens streamed in
it; the tool's CPU time in that window comes from sampling `/proc/PID/stat` (start-up and imports
excluded). Reported: tokens/s and requests/s (wall), the client's share of its core, CPU-seconds per
1,000 requests, and tokens per CPU-second (= streamed tokens/s per core), best and median.

    python -m benchmarks.capacity [--tools loadgen,loadgen-httpx,vllm] [--requests 1500] [--repeats 3]
        [--concurrency 64] [--events-per-write 1]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from bisect import bisect_left
from pathlib import Path
from typing import Any

from benchmarks._common import (
    REPO,
    clear_truth,
    fetch_truth,
    proc_cpu_s,
    sim_server,
    table,
    vllm_bench_serve_command,
    write_result,
)
from servers.vllm import launch

OUTPUT_TOKENS = 256
DEFAULT_MODEL_DIR = REPO / launch.DEFAULT_MODEL_DIR


class CpuSampler(threading.Thread):
    """Samples a process's CPU time every 20 ms with perf_counter_ns stamps (the server's clock)."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.samples: list[tuple[int, float]] = []
        self.stop = threading.Event()

    def run(self) -> None:
        """Sample until stopped or the process is gone."""
        while not self.stop.is_set():
            cpu = proc_cpu_s(self.pid)
            if cpu is None:
                return
            self.samples.append((time.perf_counter_ns(), cpu))
            self.stop.wait(0.02)

    def cpu_at(self, ns: int) -> float:
        """CPU seconds at time `ns`, interpolated between samples."""
        stamps = [s for s, _ in self.samples]
        i = bisect_left(stamps, ns)
        if i <= 0:
            return self.samples[0][1]
        if i >= len(stamps):
            return self.samples[-1][1]
        (t0, c0), (t1, c1) = self.samples[i - 1], self.samples[i]
        return c0 + (c1 - c0) * (ns - t0) / (t1 - t0)


def tool_command(tool: str, url: str, n: int, concurrency: int, workdir: Path, model_dir: Path) -> list[str]:
    """The command line of one tool (pinned by the caller)."""
    if tool.startswith("loadgen"):
        prompts = workdir / "prompts.jsonl"
        prompts.write_text("".join(f'{{"prompt": "capacity prompt {i}"}}\n' for i in range(64)))
        cmd = [
            sys.executable,
            "-m",
            "loadgen",
            "run",
            "--base-url",
            url,
            "--model",
            "sim-model",
            "--dataset-path",
            str(prompts),
            "--concurrency",
            str(concurrency),
            "--num-requests",
            str(n),
            "--max-tokens",
            str(OUTPUT_TOKENS),
            "--no-progress",
            "--output-dir",
            str(workdir / tool),
        ]
        return [*cmd, "--client", "httpx"] if tool == "loadgen-httpx" else cmd
    if tool == "vllm":
        return vllm_bench_serve_command(
            url,
            model_dir,
            output_tokens=OUTPUT_TOKENS,
            num_prompts=n,
            concurrency=concurrency,
            result_dir=str(workdir / "vllm"),
        )
    raise SystemExit(f"unknown tool {tool!r}")


def measured_window(truth: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The completed requests of the main run (a lone start-up test request 0.5 s early is left out)."""
    done = sorted((t for t in truth if t["status"] == "ok"), key=lambda t: t["received_ns"])
    while len(done) > 1 and done[1]["received_ns"] - done[0]["received_ns"] > 500_000_000:
        done = done[1:]
    return done


def judge_run(tool: str, url: str, sampler: CpuSampler, cmd: list[str]) -> dict[str, Any]:
    """A finished client run's figures: the server's truth gives the window and the tokens streamed
    in it, the client's CPU samples the CPU-seconds it spent in that window."""
    done = measured_window(fetch_truth(url))
    start, end = done[0]["received_ns"], max(t["end_ns"] for t in done)
    window_s = (end - start) / 1e9
    cpu_s = sampler.cpu_at(end) - sampler.cpu_at(start)
    tokens = sum(t["output_tokens"] for t in done)
    return {
        "tool": tool,
        "requests": len(done),
        "tokens": tokens,
        "window_s": window_s,
        "cpu_s": cpu_s,
        "tokens_per_s": tokens / window_s,
        "requests_per_s": len(done) / window_s,
        "cpu_share_of_core": cpu_s / window_s,
        "cpu_s_per_1000_requests": 1000 * cpu_s / len(done),
        "tokens_per_cpu_s": tokens / cpu_s if cpu_s > 0 else None,
        "us_cpu_per_token": 1e6 * cpu_s / tokens,
        "command": " ".join(cmd[3:]) if cmd[0] == "taskset" else " ".join(cmd),
    }


def run_tool(tool: str, url: str, n: int, concurrency: int, core: int, model_dir: Path) -> dict[str, Any]:
    """Run one tool once and judge it from the server's truth and its CPU samples."""
    clear_truth(url)
    with tempfile.TemporaryDirectory() as tmp:
        cmd = ["taskset", "-c", str(core), *tool_command(tool, url, n, concurrency, Path(tmp), model_dir)]
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "HF_HUB_OFFLINE": "1", "VLLM_LOGGING_LEVEL": "WARNING"}
        proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
        sampler = CpuSampler(proc.pid)
        sampler.start()
        out, _ = proc.communicate(timeout=1800)
        sampler.stop.set()
        sampler.join()
    if proc.returncode != 0:
        tail = out.decode(errors="replace")[-2000:]
        raise RuntimeError(f"{tool} exited with {proc.returncode}:\n{tail}")
    return judge_run(tool, url, sampler, cmd)


def main() -> None:
    """Run the capacity benchmark and print its table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tools", default="loadgen,loadgen-httpx,vllm")
    parser.add_argument("--requests", type=int, default=1500)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--events-per-write", type=int, default=1)
    parser.add_argument(
        "--repeats", type=int, default=3, help="Interleaved runs per tool (best and median shown)."
    )
    parser.add_argument("--client-core", type=int, default=0)
    parser.add_argument("--server-core", type=int, default=1)
    parser.add_argument(
        "--model-dir", type=Path, default=Path(os.environ.get("SERVEBENCH_MODEL_DIR", DEFAULT_MODEL_DIR))
    )
    args = parser.parse_args()
    sim = {
        "ttft_ms": 0,
        "itl_ms": 0,
        "output_tokens": OUTPUT_TOKENS,
        "events_per_write": args.events_per_write,
    }
    tools = args.tools.split(",")
    runs: dict[str, list[dict[str, Any]]] = {tool: [] for tool in tools}
    with sim_server(args.server_core, **sim) as url:
        for _ in range(args.repeats):  # interleaved, so every tool meets the same background load
            for tool in tools:
                r = run_tool(tool, url, args.requests, args.concurrency, args.client_core, args.model_dir)
                runs[tool].append(r)
                print(
                    f"{tool}: {r['tokens_per_s']:,.0f} tok/s, {r['tokens_per_cpu_s']:,.0f} tok per CPU-s",
                    flush=True,
                )
    results: list[dict[str, Any]] = []
    for tool in tools:
        best = max(runs[tool], key=lambda r: r["tokens_per_cpu_s"] or 0)
        median = statistics.median(r["tokens_per_cpu_s"] or 0 for r in runs[tool])
        results.append({**best, "median_tokens_per_cpu_s": median, "runs": runs[tool]})
    base = next((r for r in results if r["tool"] == "vllm"), None)
    rows = []
    for r in results:
        ratio = (
            f"{r['tokens_per_cpu_s'] / base['tokens_per_cpu_s']:.2f}x "
            f"({r['median_tokens_per_cpu_s'] / base['median_tokens_per_cpu_s']:.2f}x)"
            if base and r["tokens_per_cpu_s"]
            else "-"
        )
        rows.append(
            [
                r["tool"],
                r["requests"],
                f"{r['tokens_per_s']:,.0f}",
                f"{r['requests_per_s']:.1f}",
                f"{100 * r['cpu_share_of_core']:.0f}%",
                f"{r['cpu_s_per_1000_requests']:.2f}",
                f"{r['tokens_per_cpu_s']:,.0f} ({r['median_tokens_per_cpu_s']:,.0f})",
                ratio,
            ]
        )
    print(
        table(
            [
                "tool",
                "requests",
                "tokens/s",
                "req/s",
                "client CPU",
                "CPU-s / 1k req",
                "tokens / CPU-s best (median)",
                "vs vllm bench best (median)",
            ],
            rows,
        )
    )
    path = write_result(
        "capacity",
        {
            "sim": sim,
            "concurrency": args.concurrency,
            "requests": args.requests,
            "client_core": args.client_core,
            "server_core": args.server_core,
            "tools": results,
        },
    )
    print(f"written: {path}")


if __name__ == "__main__":
    main()
