"""Accuracy: what a load generator measures versus the scripted server's own truth.

The scripted server (TTFT 100 ms, 10 ms per token, 64 tokens) stamps, on the same monotonic clock,
when each request had arrived and when each token was handed to its socket. For each concurrency
level a tool runs a closed loop (one wave of warm-up, then 4x the concurrency, at least 40, measured
requests) and every measured request is matched to its truth record by request id: our client's
`X-Request-Id`, and `vllm bench serve`'s `--request-id-prefix` (it sends `x-request-id`). Reported
per level and tool: mean and p99 TTFT as measured and as true, their errors, the p99 of the
per-request TTFT error, mean ITL and mean E2E errors; for our client also where a TTFT difference
comes from: its first-token stamp minus the server's write of that token (the client's own error)
and the server's "received" stamp minus the client's send stamp (transit plus the time the busy
server took to read the request). Client and server are pinned to different cores; `--realtime`
runs both (and vllm bench serve) SCHED_FIFO so that other work on a shared machine cannot preempt
them.

    python -m benchmarks.accuracy [--levels 1,64,256] [--clients fast,httpx,vllm] [--realtime]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks._common import (
    REPO,
    clear_truth,
    fetch_truth,
    pin_self,
    priority_prefix,
    sim_server,
    table,
    vllm_bench_serve_command,
    write_result,
)
from loadgen.record import RequestRecord
from loadgen.results import MemorySink
from loadgen.run_config import LoadSpec, RequestOptions, Target
from loadgen.runner import new_event_loop, run_level
from loadgen.workloads.base import Prompt
from servers.vllm import launch

MS = 1e6
DEFAULT_MODEL_DIR = REPO / launch.DEFAULT_MODEL_DIR
SIM = {"ttft_ms": 100, "itl_ms": 10, "output_tokens": 64}


Measured = tuple[str, float, float, float, int | None, int | None]
"""request id, TTFT, E2E and mean ITL in ns as a tool measured them; send and first-token stamps if known."""


def from_records(records: list[RequestRecord]) -> list[Measured]:
    """Our records as `Measured` rows."""
    return [
        (
            r.request_id,
            float(r.ttft_ns),
            float(r.e2e_ns),
            float(np.mean(r.itls_ns)),
            r.send_ns,
            r.content_ns[0],
        )
        for r in records
        if r.ok and r.ttft_ns is not None and r.e2e_ns is not None
    ]


def stamp_split(measured: list[Measured], truth: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Where a TTFT difference arises, for tools whose absolute stamps are known (ours).

    `first_token_lag`: client's first-token stamp minus the server's write of that token (the client's
    own receive error). `request_read_lag`: server's "request received" stamp minus the client's send
    stamp (transit plus the time the busy server took to read the request: part of a real TTFT, but
    outside the server's own TTFT clock).
    """
    recv, read = [], []
    for request_id, *_, send_ns, first_ns in measured:
        t = truth.get(request_id)
        if t is None or send_ns is None or first_ns is None or t["first_token_ns"] is None:
            continue
        recv.append(first_ns - t["first_token_ns"])
        read.append(t["received_ns"] - send_ns)
    if not recv:
        return {}
    r, q = np.asarray(recv) / MS, np.asarray(read) / MS
    return {
        "first_token_lag_mean_ms": float(r.mean()),
        "first_token_lag_p99_ms": float(np.percentile(r, 99)),
        "request_read_lag_mean_ms": float(q.mean()),
        "request_read_lag_p99_ms": float(np.percentile(q, 99)),
    }


def compare(measured: list[Measured], truth: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Errors of the measured figures against the truth of the same requests."""
    rows = []
    for request_id, ttft, e2e, itl, _, _ in measured:
        t = truth.get(request_id)
        if t is None or t["first_token_ns"] is None:
            continue
        true_ttft = t["first_token_ns"] - t["received_ns"]
        true_e2e = t["end_ns"] - t["received_ns"]
        gaps = np.diff(np.asarray(t["token_ns"], dtype=np.int64))
        rows.append((ttft, true_ttft, e2e, true_e2e, itl, gaps.mean()))
    a = np.asarray(rows, dtype=np.float64) / MS
    ttft, true_ttft, e2e, true_e2e, itl, true_itl = a.T
    return {
        "matched": len(rows),
        "mean_ttft_ms": ttft.mean(),
        "true_mean_ttft_ms": true_ttft.mean(),
        "mean_ttft_error_ms": ttft.mean() - true_ttft.mean(),
        "p99_ttft_ms": float(np.percentile(ttft, 99)),
        "true_p99_ttft_ms": float(np.percentile(true_ttft, 99)),
        "p99_ttft_error_ms": float(np.percentile(ttft, 99) - np.percentile(true_ttft, 99)),
        "p99_abs_request_ttft_error_ms": float(np.percentile(np.abs(ttft - true_ttft), 99)),
        "mean_itl_error_ms": float(itl.mean() - true_itl.mean()),
        "mean_e2e_error_ms": float(e2e.mean() - true_e2e.mean()),
    }


def measure_vllm(
    url: str, concurrency: int, core: int, model_dir: Path, prefix: list[str]
) -> tuple[list[Measured], dict[str, Any]]:
    """The same level through `vllm bench serve` (pinned to `core`), from its detailed result file."""
    n = max(40, 4 * concurrency)
    with tempfile.TemporaryDirectory() as tmp:
        bench = vllm_bench_serve_command(
            url,
            model_dir,
            output_tokens=SIM["output_tokens"],
            num_prompts=n,
            concurrency=concurrency,
            result_dir=tmp,
        )
        cmd = [
            *prefix,
            "taskset",
            "-c",
            str(core),
            *bench,
            "--num-warmups",
            str(concurrency),
            "--request-id-prefix",
            "vb-",
            "--save-detailed",
            "--result-filename",
            "r.json",
        ]
        proc = subprocess.run(
            cmd, cwd=REPO, capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"}
        )
        if proc.returncode != 0:
            raise RuntimeError(f"vllm bench serve failed:\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}")
        result = json.loads((Path(tmp) / "r.json").read_text())
    rows: list[Measured] = []
    for i, (ttft, e2e, itls, error) in enumerate(
        zip(result["ttfts"], result["latencies"], result["itls"], result["errors"], strict=True)
    ):
        if not error and ttft:
            mean_itl = float(np.mean(itls)) * 1e9 if itls else float("nan")
            rows.append((f"vb-{i}", ttft * 1e9, e2e * 1e9, mean_itl, None, None))
    return rows, {"loop_lag_p99_ms": None, "client_bound": None, "achieved_in_flight": None}


async def measure(url: str, client: str, concurrency: int) -> tuple[list[RequestRecord], dict[str, Any]]:
    """One closed-loop level; returns the measured records and the self-check."""
    target = Target(name="sim", base_url=url, model="sim-model")
    request = RequestOptions(max_tokens=SIM["output_tokens"], client=client)  # type: ignore[arg-type]
    load = LoadSpec(
        mode="closed",
        concurrency=concurrency,
        num_requests=max(40, 4 * concurrency),
        warmup_requests=concurrency,
    )
    prompts = [Prompt(text=f"accuracy prompt {i}") for i in range(64)]
    result = await run_level(target, prompts, load, request, MemorySink())
    return result.measured, result.selfcheck.to_dict()


def main() -> None:
    """Run the accuracy benchmark and print its table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--levels", default="1,64,256")
    parser.add_argument("--clients", default="fast,httpx,vllm", help="fast, httpx (our clients), vllm")
    parser.add_argument(
        "--model-dir",
        type=Path,
        default=Path(os.environ.get("SERVEBENCH_MODEL_DIR", DEFAULT_MODEL_DIR)),
        help="Tokenizer for vllm bench serve.",
    )
    parser.add_argument("--client-core", type=int, default=0)
    parser.add_argument("--server-core", type=int, default=1)
    parser.add_argument(
        "--nice", type=int, default=0, help="Priority for client and server (e.g. -10 as root)."
    )
    parser.add_argument("--realtime", action="store_true", help="Run client and server SCHED_FIFO (root).")
    args = parser.parse_args()
    levels = [int(x) for x in args.levels.split(",")]
    pin_self(args.client_core, args.nice, args.realtime)
    results = []
    with sim_server(args.server_core, args.nice, args.realtime, **SIM) as url:
        for client in args.clients.split(","):
            for c in levels:
                clear_truth(url)
                if client == "vllm":
                    rows, check = measure_vllm(
                        url, c, args.client_core, args.model_dir, priority_prefix(args.nice, args.realtime)
                    )
                else:
                    loop = new_event_loop()
                    try:
                        records, check = loop.run_until_complete(measure(url, client, c))
                    finally:
                        loop.close()
                    rows = from_records(records)
                truth = {t["request_id"]: t for t in fetch_truth(url)}
                row = {
                    "client": "vllm bench serve" if client == "vllm" else f"loadgen ({client})",
                    "concurrency": c,
                    **compare(rows, truth),
                    **stamp_split(rows, truth),
                    "loop_lag_p99_ms": check["loop_lag_p99_ms"],
                    "client_bound": check["client_bound"],
                    "achieved_in_flight": check["achieved_in_flight"],
                }
                results.append(row)
                print(f"{client} c={c}: p99 TTFT error {row['p99_ttft_error_ms']:+.3f} ms", flush=True)
    headers = [
        "client",
        "conc",
        "mean TTFT ms (true)",
        "err ms",
        "p99 TTFT ms (true)",
        "err ms",
        "p99 |req err| ms",
        "ITL err ms",
        "E2E err ms",
        "1st-token stamp lag p99 ms",
        "request read lag mean/p99 ms",
        "in flight",
        "client-bound",
    ]
    cells = [
        [
            r["client"],
            r["concurrency"],
            f"{r['mean_ttft_ms']:.2f} ({r['true_mean_ttft_ms']:.2f})",
            f"{r['mean_ttft_error_ms']:+.3f}",
            f"{r['p99_ttft_ms']:.2f} ({r['true_p99_ttft_ms']:.2f})",
            f"{r['p99_ttft_error_ms']:+.3f}",
            f"{r['p99_abs_request_ttft_error_ms']:.3f}",
            f"{r['mean_itl_error_ms']:+.4f}",
            f"{r['mean_e2e_error_ms']:+.3f}",
            f"{r['first_token_lag_p99_ms']:.3f}" if "first_token_lag_p99_ms" in r else "-",
            f"{r['request_read_lag_mean_ms']:.2f} / {r['request_read_lag_p99_ms']:.2f}"
            if "request_read_lag_mean_ms" in r
            else "-",
            f"{r['achieved_in_flight'] or 0:.1f}",
            r["client_bound"],
        ]
        for r in results
    ]
    print(table(headers, cells))
    path = write_result(
        "accuracy",
        {
            "sim": SIM,
            "client_core": args.client_core,
            "server_core": args.server_core,
            "nice": args.nice,
            "realtime": args.realtime,
            "levels": results,
        },
    )
    print(f"written: {path}")


if __name__ == "__main__":
    main()
