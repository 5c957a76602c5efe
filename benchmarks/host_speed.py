"""How fast this host runs what a host-bound server spends its time on: Python bytecode and CUDA
kernel launches.

Two leases of the same GPU kind can differ in their host: on two H100 leases the HF server's decode
step at 7 rows of the LLaMA-7B shape took 18.0-18.6 ms on one and 22.5-38.9 ms on the other, and the
vLLM/HF ratio read 19x and 28x (docs/results/2026-12-06c-claims-7b). The lease's model name says
nothing (both read "Intel(R) Xeon(R) Processor"). `benchmarks/gpu_host.sh` runs this at the start of
every call and keeps it in `host.txt`, so runs on different leases can be told apart by the figures
that set a host-bound server's pace:

- `python_ns_per_iter`: one iteration of a fixed pure-Python loop (best of `--rounds`);
- `cuda_launch_us`: one tiny in-place kernel launched from Python, the stream synchronized once at
  the end (best of `--rounds`; None without a CUDA device);
- the load average and core count at the time.

    python -m benchmarks.host_speed [--rounds 5] [--no-write]
"""

from __future__ import annotations

import argparse
import os
import time
from typing import Any

from benchmarks._common import table, write_result

PYTHON_ITERATIONS = 1_000_000
LAUNCHES = 2_000


def python_ns_per_iter(rounds: int, iterations: int = PYTHON_ITERATIONS) -> float:
    """Best time of one iteration of a fixed pure-Python loop, in ns."""
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter_ns()
        total = 0
        for i in range(iterations):
            total += i * i & 7
        best = min(best, (time.perf_counter_ns() - start) / iterations)
    return best


def cuda_launch_us(rounds: int) -> float | None:
    """Best time of one tiny CUDA kernel launch from Python, in µs (None: no torch or no CUDA device)."""
    try:
        import torch
    except ImportError:
        return None
    if not torch.cuda.is_available():
        return None
    x = torch.zeros(1, device="cuda")
    for _ in range(100):  # warm up the allocator and the kernel
        x.add_(1)
    torch.cuda.synchronize()
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter_ns()
        for _ in range(LAUNCHES):
            x.add_(1)
        torch.cuda.synchronize()
        best = min(best, (time.perf_counter_ns() - start) / LAUNCHES / 1e3)
    return best


def measure(rounds: int) -> dict[str, Any]:
    """The host's figures (see the module docstring)."""
    return {
        "python_ns_per_iter": python_ns_per_iter(rounds),
        "cuda_launch_us": cuda_launch_us(rounds),
        "load_avg_1m": os.getloadavg()[0],
        "cores": os.cpu_count(),
    }


def main(argv: list[str] | None = None) -> int:
    """Measure, print a table and (unless --no-write) write results/benchmarks/host-speed-*.json."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5, help="best of this many rounds (default 5)")
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args(argv)
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    found = measure(args.rounds)
    launch = found["cuda_launch_us"]
    print(
        table(
            ["python ns/iter", "CUDA launch µs", "load avg 1m", "cores"],
            [
                [
                    f"{found['python_ns_per_iter']:.1f}",
                    "n/a" if launch is None else f"{launch:.2f}",
                    f"{found['load_avg_1m']:.2f}",
                    found["cores"],
                ]
            ],
        )
    )
    if not args.no_write:
        print(f"wrote {write_result('host-speed', {'rounds': args.rounds, **found})}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
