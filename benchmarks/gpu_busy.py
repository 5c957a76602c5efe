"""How busy the GPU was during each level of comparisons made before `loadgen compare` sampled it.

`loadgen compare --gpu-monitor` now records the GPU's state per level (`loadgen.gpu_monitor`); runs
made before it have only `benchmarks/gpu_host.sh`'s nvidia-smi log of the whole call
(`gpu-state-*.csv[.gz]`: timestamp, SM clock, memory clock, utilization, power, pstate every 200 ms).
This joins that log with each level's window, read from the run directory: the level marks in
`server-metrics-<target>.jsonl` (first send to last response, in `perf_counter_ns`, beside the wall
clock of the same moment) and, for fixed batches, `offline.jsonl`. The nvidia-smi timestamps are the
GPU host's local time, taken as UTC (`--utc-offset-h` otherwise). Each window is summed up as
`loadgen.gpu_monitor.summarize` does for a live run, host-bound verdict included.

    python -m benchmarks.gpu_busy RUN_DIR GPU_CSV [RUN_DIR GPU_CSV ...] [--out gpu_busy.json]
"""

from __future__ import annotations

import argparse
import csv
import datetime
import gzip
import json
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from benchmarks._common import table
from loadgen.gpu_monitor import GpuSample, busiest_gpu, summarize, verdict
from loadgen.record import RequestRecord, records_window


def _open(path: Path) -> IO[str]:
    return gzip.open(path, "rt") if path.suffix == ".gz" else path.open()


def _float(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def read_gpu_log(path: Path, epoch_to_ns: float, utc_offset_h: float = 0.0) -> list[GpuSample]:
    """gpu_host.sh's nvidia-smi log as samples on the run's `perf_counter_ns` clock (GPU 0)."""
    samples = []
    zone = datetime.timezone(datetime.timedelta(hours=utc_offset_h))
    with _open(path) as file:
        for row in csv.reader(file, skipinitialspace=True):
            if len(row) < 5 or row[0].startswith("timestamp"):
                continue
            stamp = datetime.datetime.strptime(row[0], "%Y/%m/%d %H:%M:%S.%f").replace(tzinfo=zone)
            busy = _float(row[3])
            if busy is None:
                continue
            t_ns = int((stamp.timestamp() - epoch_to_ns) * 1e9)
            samples.append(GpuSample(t_ns, 0, busy, _float(row[1]), _float(row[4]), None))
    return samples


def level_windows(run: Path) -> tuple[float, dict[tuple[str, str], tuple[int, int]]]:
    """(epoch seconds at perf_counter 0, {(target, level): (start_ns, end_ns)}) of a run directory."""
    offset: float | None = None
    windows: dict[tuple[str, str], tuple[int, int]] = {}
    for path in sorted(run.glob("server-metrics-*.jsonl")):
        target = path.stem.removeprefix("server-metrics-")
        for line in path.read_text().splitlines():
            scrape = json.loads(line)
            offset = scrape["time"] - scrape["t_ns"] / 1e9 if offset is None else offset
            if "level" in scrape:
                windows[(target, scrape["level"])] = (scrape["start_ns"], scrape["end_ns"])
    if offset is None:
        raise SystemExit(f"{run}: no server-metrics-*.jsonl to tie its clock to the wall clock")
    batches: dict[tuple[str, str], list[RequestRecord]] = defaultdict(list)
    offline = run / "offline.jsonl"
    for line in offline.read_text().splitlines() if offline.is_file() else []:
        record = RequestRecord.from_dict(json.loads(line))
        batches[(record.target, record.level)].append(record)
    for key, records in batches.items():
        window = records_window(records)
        if window is not None:
            windows[key] = window
    return offset, windows


def run_views(run: Path, gpu_log: Path, utc_offset_h: float = 0.0) -> Iterator[dict[str, Any]]:
    """One row per (target, level) of `run` with its GPU view."""
    offset, windows = level_windows(run)
    samples = read_gpu_log(gpu_log, offset, utc_offset_h)
    for (target, level), (start, end) in sorted(windows.items(), key=lambda kv: kv[1][0]):
        yield {"run": run.name, "target": target, "level": level, "gpu": summarize(samples, start, end)}


def main(argv: list[str] | None = None) -> None:
    """Print the table and write the JSON."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("pairs", nargs="+", help="RUN_DIR GPU_CSV, repeated")
    parser.add_argument("--utc-offset-h", type=float, default=0.0, help="The GPU host's local time zone.")
    parser.add_argument("--out", type=Path, default=Path("results/benchmarks/gpu_busy.json"))
    args = parser.parse_args(argv)
    if len(args.pairs) % 2:
        parser.error("give RUN_DIR GPU_CSV pairs")
    rows = []
    for run, log in zip(args.pairs[::2], args.pairs[1::2], strict=True):
        rows += list(run_views(Path(run), Path(log), args.utc_offset_h))
    printed = []
    for row in rows:
        view = row["gpu"] or {}
        gpu = busiest_gpu(view)
        printed.append(
            [
                row["run"],
                row["target"],
                row["level"],
                "-" if not view else f"{view['busy_pct']:.0f}%",
                "-" if gpu.get("sm_mhz_min") is None else f"{gpu['sm_mhz_min']:.0f}",
                "-" if gpu.get("power_w") is None else f"{gpu['power_w']:.0f}",
                str(gpu.get("samples", 0)),
                verdict(view),
            ]
        )
    print(
        table(["run", "server", "level", "GPU busy", "SM MHz min", "power W", "samples", "verdict"], printed)
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(rows, indent=1) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
