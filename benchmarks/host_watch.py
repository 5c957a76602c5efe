"""The host's speed over a whole device call, and the HF server's batches read against it.

`benchmarks.host_speed` takes one snapshot at a call's start. On an H100 lease it read 70, 82 and
127 ns per Python loop iteration in three calls within 25 minutes, while the HF server's decode step
at 7 rows moved between 21 and 35 ms within one run (docs/results/2026-12-06d-claims-7b-repeat):
a snapshot cannot say whether the slow batches ran while the host was slow. This samples through
the call instead:

    python -m benchmarks.host_watch watch --out OUT/host-speed.csv [--interval 5] [--max-seconds 600]

Every `--interval` seconds one CSV row: the time, a short Python loop's ns per iteration (best of 2
of 200,000 iterations, ~30 ms of one core), and from /proc/stat since the last row the share of CPU
time the hypervisor gave to other guests (`steal_pct`) and the share the host's own processes used
(`busy_pct`), and the load average. Each row is flushed as it is written; SIGTERM ends the watch.

    python -m benchmarks.host_watch against --samples OUT/host-speed.csv --batches RUN/batches-02-hf-*.json

prints each batch of the most common row count beside the host's figures during it, and the
correlation between the batch's median step and the host's Python speed over those batches.
"""

from __future__ import annotations

import argparse
import csv
import math
import os
import signal
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

from benchmarks._common import table
from benchmarks.host_speed import python_ns_per_iter
from loadgen.compare.server_batches import comparable_batches, read_batch_file

WATCH_ITERATIONS = 200_000
FIELDS = ("unix_s", "python_ns_per_iter", "steal_pct", "busy_pct", "load_avg_1m")


@dataclass(frozen=True)
class CpuTimes:
    """The first line of /proc/stat, in clock ticks: all of it, the idle part, the stolen part."""

    total: int
    idle: int
    steal: int


def cpu_times(stat: Path = Path("/proc/stat")) -> CpuTimes | None:
    """The machine's CPU time so far (None where /proc/stat cannot be read)."""
    try:
        first = stat.read_text().splitlines()[0].split()
    except (OSError, IndexError):
        return None
    if first[0] != "cpu":
        return None
    ticks = [int(v) for v in first[1:]]
    # user nice system idle iowait irq softirq steal [guest guest_nice: already in user and nice]
    counted = ticks[:8]
    steal = counted[7] if len(counted) > 7 else 0
    return CpuTimes(
        total=sum(counted), idle=counted[3] + (counted[4] if len(counted) > 4 else 0), steal=steal
    )


def shares(before: CpuTimes | None, after: CpuTimes | None) -> tuple[float | None, float | None]:
    """(steal %, busy %) of the CPU time between two readings (None without both, or no time between)."""
    if before is None or after is None or after.total <= before.total:
        return None, None
    span = after.total - before.total
    steal = 100.0 * (after.steal - before.steal) / span
    busy = 100.0 * (span - (after.idle - before.idle) - (after.steal - before.steal)) / span
    return steal, busy


def watch(out: Path, interval_s: float, max_seconds: float) -> int:
    """Append a row to `out` every `interval_s` seconds until SIGTERM, SIGINT or `max_seconds`."""
    stopping = False

    def stop(_signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    deadline = time.monotonic() + max_seconds
    rows = 0
    with out.open("a", newline="") as file:
        writer = csv.writer(file)
        if file.tell() == 0:
            writer.writerow(FIELDS)
        before = cpu_times()
        while not stopping and time.monotonic() < deadline:
            ns = python_ns_per_iter(rounds=2, iterations=WATCH_ITERATIONS)
            after = cpu_times()
            steal, busy = shares(before, after)
            before = after
            writer.writerow(
                [
                    f"{time.time():.3f}",
                    f"{ns:.2f}",
                    "" if steal is None else f"{steal:.2f}",
                    "" if busy is None else f"{busy:.2f}",
                    f"{os.getloadavg()[0]:.2f}",
                ]
            )
            file.flush()
            rows += 1
            end = time.monotonic() + interval_s
            while not stopping and time.monotonic() < min(end, deadline):
                time.sleep(min(0.2, interval_s))
    return rows


def read_samples(path: Path) -> list[dict[str, float | None]]:
    """The rows of a `watch` file (a torn last row, from a call cut mid-write, is skipped)."""
    samples = []
    with path.open(newline="") as file:
        for row in csv.DictReader(file):
            if any(row.get(k) is None for k in FIELDS):  # fewer fields than the header: torn
                continue
            try:
                samples.append({k: (float(row[k]) if row[k] else None) for k in FIELDS})
            except ValueError:
                continue
    return samples


@dataclass(frozen=True)
class BatchAgainstHost:
    """One batch and the host's figures while it ran."""

    started_s: float
    rows: int
    step_ms: float
    python_ns: float | None
    steal_pct: float | None
    samples: int


def _median(values: Sequence[float | None]) -> float | None:
    kept = [v for v in values if v is not None]
    return statistics.median(kept) if kept else None


def against(
    batches: Sequence[dict[str, Any]], samples: Sequence[dict[str, float | None]]
) -> list[BatchAgainstHost]:
    """Each batch whose step time compares (`server_batches.comparable_batches`, the batches the
    UNSTEADY HOST check reads) with the median of the host's samples taken while it ran."""
    out = []
    for b in comparable_batches(batches):
        start = float(b["started_unix"])
        end = start + float(b.get("duration_s") or 0.0)
        during = [s for s in samples if s["unix_s"] is not None and start <= s["unix_s"] <= end]
        out.append(
            BatchAgainstHost(
                started_s=start,
                rows=int(b["rows"]),
                step_ms=1e3 * float(b["decode_step_s_median"]),
                python_ns=_median([s["python_ns_per_iter"] for s in during]),
                steal_pct=_median([s["steal_pct"] for s in during]),
                samples=len(during),
            )
        )
    return out


def correlation(pairs: Sequence[tuple[float, float]]) -> float | None:
    """Pearson's r over (x, y) pairs (None below 3 pairs or without spread)."""
    if len(pairs) < 3:
        return None
    xs, ys = [p[0] for p in pairs], [p[1] for p in pairs]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    sx = math.sqrt(sum((x - mx) ** 2 for x in xs))
    sy = math.sqrt(sum((y - my) ** 2 for y in ys))
    if sx == 0 or sy == 0:
        return None
    return sum((x - mx) * (y - my) for x, y in pairs) / (sx * sy)


def _against_command(samples_path: Path, batches_path: Path) -> int:
    try:
        batches = read_batch_file(batches_path)
    except ValueError as exc:
        print(f"host_watch: {exc}", file=sys.stderr)
        return 2
    found = against(batches, read_samples(samples_path))
    if not found:
        print(f"host_watch: no batch of 32 steps or more in {batches_path}", file=sys.stderr)
        return 2
    t0 = found[0].started_s
    print(
        table(
            ["start s", "rows", "step ms", "python ns/iter", "steal %", "samples"],
            [
                [
                    f"{b.started_s - t0:.0f}",
                    b.rows,
                    f"{b.step_ms:.1f}",
                    "-" if b.python_ns is None else f"{b.python_ns:.1f}",
                    "-" if b.steal_pct is None else f"{b.steal_pct:.1f}",
                    b.samples,
                ]
                for b in found
            ],
        )
    )
    r = correlation([(b.python_ns, b.step_ms) for b in found if b.python_ns is not None])
    print(
        "correlation of the step with the host's Python speed: "
        + ("n/a (fewer than 3 batches with samples, or no spread)" if r is None else f"r = {r:.2f}")
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    """`watch` the host, or read a run's batches `against` a watch file."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    w = sub.add_parser("watch", help="sample the host's speed into a CSV until stopped")
    w.add_argument("--out", type=Path, required=True)
    w.add_argument("--interval", type=float, default=5.0, help="seconds between rows (default 5)")
    w.add_argument("--max-seconds", type=float, default=600.0, help="stop after this long (default 600)")
    a = sub.add_parser("against", help="a run's batches beside the host's figures while they ran")
    a.add_argument("--samples", type=Path, required=True)
    a.add_argument("--batches", type=Path, required=True)
    args = parser.parse_args(argv)
    if args.command == "watch":
        if args.interval <= 0 or args.max_seconds <= 0:
            parser.error("--interval and --max-seconds must be above 0")
        watch(args.out, args.interval, args.max_seconds)
        return 0
    for path in (args.samples, args.batches):
        if not path.is_file():
            parser.error(f"no file {path}")
    return _against_command(args.samples, args.batches)


if __name__ == "__main__":
    raise SystemExit(main())
