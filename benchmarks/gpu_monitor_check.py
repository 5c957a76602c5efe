"""The GPU monitor against known loads on a real GPU: does `utilization.gpu` tell GPU-bound from host-bound?

`loadgen compare` marks a level host-bound when its GPU was busy less than half the time
(`loadgen.gpu_monitor`). This runs the monitor, as a comparison does (nvidia-smi under a terminal,
200 ms samples), over four phases of a few seconds each on GPU 0, and prints each phase's figures:

- `idle`: nothing;
- `gpu-bound`: back-to-back large bf16 matmuls (the GPU never waits for the host);
- `host-bound`: one small matmul at a time with a host sync after each (the GPU waits for Python
  between kernels, as eager decoding of a small model does);
- `idle` again.

    python -m benchmarks.gpu_monitor_check [--seconds 3] [--out gpu_monitor_check.json]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from benchmarks._common import table
from loadgen.gpu_monitor import GpuMonitor, busiest_gpu, summarize, verdict


def _phase(name: str, seconds: float) -> tuple[int, int]:
    import torch

    start = time.perf_counter_ns()
    deadline = time.monotonic() + seconds
    if name == "gpu-bound":
        a = torch.randn(8192, 8192, device="cuda", dtype=torch.bfloat16)
        while time.monotonic() < deadline:
            for _ in range(20):
                a = (a @ a).clamp_(-1, 1)
            torch.cuda.synchronize()
    elif name == "host-bound":
        x = torch.randn(64, 64, device="cuda")
        while time.monotonic() < deadline:
            x = (x @ x).clamp_(-1, 1)
            torch.cuda.synchronize()
            time.sleep(0.0002)  # the host's per-step work between kernels
    else:
        time.sleep(seconds)
    return start, time.perf_counter_ns()


def main(argv: list[str] | None = None) -> None:
    """Run the phases under the monitor, print the table, write the JSON."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=3.0, help="Length of each phase.")
    parser.add_argument("--out", type=Path, default=Path("results/benchmarks/gpu_monitor_check.json"))
    args = parser.parse_args(argv)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    monitor = GpuMonitor(args.out.with_suffix(".samples.jsonl"))
    monitor.start()
    windows = []
    try:
        time.sleep(0.5)
        for name in ("idle", "gpu-bound", "host-bound", "idle"):
            windows.append((name, *_phase(name, args.seconds)))
        time.sleep(0.5)
    finally:
        monitor.close()
    samples = monitor.samples()
    rows: list[dict[str, Any]] = [
        {"phase": name, "gpu": summarize(samples, start, end)} for name, start, end in windows
    ]
    printed = []
    for row in rows:
        view = row["gpu"] or {}
        gpu = busiest_gpu(view)
        printed.append(
            [
                row["phase"],
                "-" if not view else f"{view['busy_pct']:.0f}%",
                "-" if gpu.get("sm_mhz_mean") is None else f"{gpu['sm_mhz_mean']:.0f}",
                "-" if gpu.get("power_w") is None else f"{gpu['power_w']:.0f}",
                str(gpu.get("samples", 0)),
                "-" if row["phase"] == "idle" else verdict(view),  # nothing waits on an idle GPU
            ]
        )
    print(table(["phase", "GPU busy", "SM MHz mean", "power W", "samples", "verdict"], printed))
    args.out.write_text(json.dumps({"samples": len(samples), "phases": rows}, indent=1) + "\n")
    print(f"{len(samples)} samples; wrote {args.out}")


if __name__ == "__main__":
    main()
