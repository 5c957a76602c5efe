"""The GPU during each level and fixed batch (`loadgen.gpu_monitor`): was the GPU the bottleneck?

A level whose GPU was busy less than half the time measured the host (Python, kernel launches,
streaming) as much as the GPU: its figures follow the host CPU's speed, and a ratio there compares
the two servers' host code. The report says so at its top and shows every level's figures.
"""

from __future__ import annotations

from typing import Any

from loadgen.gpu_monitor import busiest_gpu, verdict
from loadgen.report.data import ReportData
from loadgen.report.doc import Block, Callout, Table
from loadgen.report.ratios import format_value


def _views(data: ReportData) -> list[tuple[str, str, dict[str, Any]]]:
    """(server, level, GPU view) for every level and fixed batch that has one, in report order."""
    out = []
    for series in data.series:
        for level in [*data.levels, *data.extra_levels]:
            view = (series.summaries.get(level) or {}).get("gpu")
            if view:
                out.append((series.name, level, view))
    for run in data.runs:
        for batch in run.offline:
            if batch.get("gpu"):
                out.append((str(batch["target"]), f"batch={batch['batch_size']}", batch["gpu"]))
    return out


def host_bound_notes(data: ReportData) -> list[str]:
    """A sentence for the top of the report when any level was host-bound (none otherwise)."""
    views = _views(data)
    bound = [f"{who} {level} ({v['busy_pct']:.0f}%)" for who, level, v in views if v.get("host_bound")]
    if not bound:
        return []
    threshold = views[0][2].get("threshold_pct", 50)
    return [
        f"HOST-BOUND: the GPU was busy less than {threshold:.0f}% of the time at {', '.join(bound)}. "
        "There the host's CPU (the server's Python, kernel launches, streaming) set the pace, not the "
        "GPU: these figures follow the host's speed and move with it between runs and machines."
    ]


def _clock(busiest: dict[str, Any]) -> str:
    low, mean = busiest.get("sm_mhz_min"), busiest.get("sm_mhz_mean")
    return "-" if low is None or mean is None else f"{low:.0f} / {mean:.0f}"


def gpu_blocks(data: ReportData) -> list[Block]:
    """Per server and level: GPU busy share, SM clock, power, memory, and the verdict."""
    views = _views(data)
    if not views:
        return []
    rows = []
    for server, level, view in views:
        busiest = busiest_gpu(view)
        rows.append(
            [
                server,
                level,
                str(view.get("gpu")),
                f"{view['busy_pct']:.0f}%",
                _clock(busiest),
                format_value(busiest.get("power_w")),
                format_value(busiest.get("memory_mib_max")),
                str(busiest.get("samples", 0)),
                verdict(view),
            ]
        )
    bound = sum(1 for *_, view in views if view.get("host_bound"))
    threshold = views[0][2].get("threshold_pct", 50)
    head: Block = (
        Callout(
            "warn",
            f"{bound} of {len(views)} levels and batches kept the GPU busy less than {threshold:.0f}% of "
            "the time: the host set the pace there.",
        )
        if bound
        else Callout("ok", f"The GPU was busy at least {threshold:.0f}% of the time at every level.")
    )
    return [
        head,
        Table(
            [
                "server",
                "level",
                "GPU",
                "GPU busy",
                "SM clock min / mean (MHz)",
                "power (W)",
                "memory max (MiB)",
                "samples",
                "verdict",
            ],
            rows,
            caption="nvidia-smi every 200 ms: `utilization.gpu` (share of time a kernel ran) of the busiest "
            "GPU, averaged over the level's first send to last response.",
        ),
    ]
