"""Locust capacity: streamed tokens per second that one core running the locust user sustains.

Same setup as `benchmarks.capacity` (the `loadgen` figure): the scripted server sends 256 tokens per
request as fast as it can (`--ttft-ms 0 --itl-ms 0`, one SSE event per write unless
`--events-per-write` says otherwise), pinned to its own core; locust (`loadgen/locust/locustfile.py`,
one process, headless) runs pinned to the other core with `--users` users, a closed loop, for
`--run-time`. It is judged from outside as the other tools are: the server's truth gives the window
(first request received to last response ended) and the completed requests and tokens in it; locust's
CPU time in that window comes from sampling `/proc/PID/stat` (start-up excluded). `--with-loadgen`
also runs `loadgen` through `benchmarks.capacity` against the same server, for a side-by-side figure.

    python -m benchmarks.locust_capacity [--users 64] [--run-time 20] [--repeats 1] [--with-loadgen]
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from benchmarks._common import REPO, clear_truth, sim_server, table, write_result
from benchmarks.capacity import OUTPUT_TOKENS, CpuSampler, judge_run, run_tool

LOCUSTFILE = REPO / "loadgen" / "locust" / "locustfile.py"


def locust_command(url: str, users: int, run_time_s: int, prompts: Path) -> list[str]:
    """One headless locust process: `users` users streaming 256-token completions from `url`."""
    return [
        sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless", "--only-summary",
        "--loglevel", "WARNING", "-u", str(users), "-r", str(users), "--run-time", f"{run_time_s}s",
        "--host", url, "--model", "sim-model", "--api", "completions", "--workload", "jsonl",
        "--dataset-path", str(prompts), "--max-tokens", str(OUTPUT_TOKENS), "--ignore-eos",
    ]  # fmt: skip


def run_locust(url: str, users: int, run_time_s: int, core: int) -> dict[str, Any]:
    """Run locust once and judge it from the server's truth and its CPU samples."""
    clear_truth(url)
    with tempfile.TemporaryDirectory() as tmp:
        prompts = Path(tmp) / "prompts.jsonl"
        prompts.write_text("".join(f'{{"prompt": "capacity prompt {i}"}}\n' for i in range(64)))
        cmd = ["taskset", "-c", str(core), *locust_command(url, users, run_time_s, prompts)]
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
        sampler = CpuSampler(proc.pid)
        sampler.start()
        out, _ = proc.communicate(timeout=run_time_s + 120)
        sampler.stop.set()
        sampler.join()
    if proc.returncode != 0:
        raise RuntimeError(f"locust exited with {proc.returncode}:\n{out.decode(errors='replace')[-3000:]}")
    return judge_run("locust", url, sampler, cmd)


def main() -> None:
    """Run the locust capacity benchmark and print its table."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--users", type=int, default=64)
    parser.add_argument("--run-time", type=int, default=20, help="Seconds locust runs.")
    parser.add_argument("--events-per-write", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=1, help="Runs per tool; the best is reported.")
    parser.add_argument("--with-loadgen", action="store_true", help="Also run loadgen (benchmarks.capacity).")
    parser.add_argument("--loadgen-requests", type=int, default=1500)
    parser.add_argument("--client-core", type=int, default=0)
    parser.add_argument("--server-core", type=int, default=1)
    args = parser.parse_args()
    if importlib.util.find_spec("locust") is None:
        raise SystemExit("locust_capacity: locust is not installed: pip install 'servebench[locust]'")
    sim = {
        "ttft_ms": 0,
        "itl_ms": 0,
        "output_tokens": OUTPUT_TOKENS,
        "events_per_write": args.events_per_write,
    }
    results: list[dict[str, Any]] = []
    with sim_server(args.server_core, **sim) as url:
        tools = ["locust", "loadgen"] if args.with_loadgen else ["locust"]
        for tool in tools:
            runs = []
            for _ in range(args.repeats):
                if tool == "locust":
                    r = run_locust(url, args.users, args.run_time, args.client_core)
                else:
                    r = run_tool(tool, url, args.loadgen_requests, args.users, args.client_core, Path("."))
                    r["us_cpu_per_token"] = 1e6 * r["cpu_s"] / r["tokens"]
                runs.append(r)
                print(
                    f"{tool}: {r['tokens_per_s']:,.0f} tok/s, {r['tokens_per_cpu_s']:,.0f} tok per CPU-s",
                    flush=True,
                )
            best = max(runs, key=lambda r: r["tokens_per_cpu_s"] or 0)
            results.append({**best, "runs": runs})
    rows = [
        [
            r["tool"], r["requests"], f"{r['tokens_per_s']:,.0f}", f"{r['requests_per_s']:.1f}",
            f"{100 * r['cpu_share_of_core']:.0f}%", f"{r['tokens_per_cpu_s']:,.0f}",
            f"{r['us_cpu_per_token']:.1f}",
        ]
        for r in results
    ]  # fmt: skip
    headers = ["tool", "requests", "tokens/s", "req/s", "client CPU", "tokens / CPU-s", "CPU µs / token"]
    print(table(headers, rows))
    path = write_result(
        "locust_capacity",
        {"sim": sim, "users": args.users, "run_time_s": args.run_time, "client_core": args.client_core,
         "server_core": args.server_core, "tools": results},
    )  # fmt: skip
    print(f"written: {path}")


if __name__ == "__main__":
    main()
