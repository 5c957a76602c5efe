"""Capacity at SLO against real targets: each probe a short open-loop level, the servers alternating.

Every probe sends the comparison's prompts with the plan's arrival process, seed and cap, at the
probe's rate; its records go to `capacity.jsonl` (level `capacity rate=R`), the answers to
`capacity.json`. The search itself is `loadgen.compare.capacity`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from loadgen.compare.capacity import (
    DEFAULT_TOLERANCE,
    GOODPUT_TARGET,
    CapacityResult,
    CapacitySearch,
    ProbeResult,
)
from loadgen.compare.plan import ComparePlan
from loadgen.compare.sweep import RelabelSink, level_order
from loadgen.results import RecordSink
from loadgen.run_config import LoadSpec, RequestOptions, Target
from loadgen.runner import run_level
from loadgen.stats import SLO
from loadgen.workloads.base import Prompt

PROBE_SECONDS = 5.0
"""Arrivals per probe when `--num-requests` is not given: about this many seconds' worth."""


@dataclass(frozen=True)
class CapacitySettings:
    """The search's bounds."""

    max_rate: float = 64.0
    max_steps: int = 12
    start_rate: float = 1.0
    threshold: float = GOODPUT_TARGET

    @classmethod
    def of(cls, plan: ComparePlan) -> CapacitySettings:
        """The plan's bounds; the search starts at the lowest `--rate` level (open loop), else 1 req/s."""
        start = min(plan.levels) if plan.mode == "open" and plan.levels else 1.0
        return cls(plan.capacity_max_rate, plan.capacity_steps, min(start, plan.capacity_max_rate))


def probe_load(plan: ComparePlan, rate: float) -> LoadSpec:
    """The open-loop level one probe runs."""
    count = plan.requests_per_level or max(plan.min_requests, round(PROBE_SECONDS * rate))
    return LoadSpec(
        mode="open",
        rate=rate,
        concurrency=plan.max_concurrency,
        arrival=plan.arrival,
        burstiness=plan.burstiness,
        num_requests=count,
        warmup_requests=plan.warmup if plan.warmup is not None else 1,
        seed=plan.seed,
    )


async def find_capacities(
    targets: Sequence[Target],
    prompts: Sequence[Prompt],
    plan: ComparePlan,
    settings: CapacitySettings,
    request: RequestOptions,
    slo: SLO,
    sink: RecordSink,
    *,
    stop: asyncio.Event,
    on_probe: Callable[[str, ProbeResult], None] | None = None,
) -> list[CapacityResult]:
    """Search every target's capacity at `slo`, the probes of the targets alternating (A B, B A, ...)
    as the sweep's levels do, so a drift of the machine is shared rather than handed to one server."""
    searches = {
        t.name: CapacitySearch(
            t.name,
            start_rate=settings.start_rate,
            max_rate=settings.max_rate,
            max_steps=settings.max_steps,
            threshold=settings.threshold,
        )
        for t in targets
    }
    counts = dict.fromkeys(searches, 0)
    turn = 0
    while any(s.next_rate() is not None for s in searches.values()):
        for target in level_order(targets, turn):
            search = searches[target.name]
            rate = search.next_rate()
            if rate is None:
                continue
            if stop.is_set():
                search.stop()
                continue
            counts[target.name] += 1
            result = await run_level(
                target,
                prompts,
                probe_load(plan, rate),
                request,
                RelabelSink(sink, f"capacity rate={rate:g}"),
                stop=stop,
                slo=slo,
                id_prefix=f"{target.name}-capacity{counts[target.name]}",
            )
            measured = result.measured
            outcome = ProbeResult(
                rate=rate,
                requests=len(measured),
                met_slo=sum(1 for r in measured if slo.met_by(r)),
                client_bound=result.selfcheck.client_bound,
                achieved_rate=float(result.summary.get("request_throughput") or 0.0),
            )
            search.record(outcome)
            if on_probe is not None:
                on_probe(target.name, outcome)
        turn += 1
    return [s.result() for s in searches.values()]


def capacity_file(
    results: Sequence[CapacityResult], settings: CapacitySettings, slo: SLO, plan: ComparePlan
) -> dict[str, Any]:
    """What `capacity.json` holds: the settings, the SLOs and each server's search."""
    return {
        "threshold": settings.threshold,
        "tolerance": DEFAULT_TOLERANCE,
        "max_rate": settings.max_rate,
        "max_steps": settings.max_steps,
        "start_rate": settings.start_rate,
        "arrival": plan.arrival,
        "burstiness": plan.burstiness,
        "max_concurrency": plan.max_concurrency,
        "slo": {k: v for k, v in asdict(slo).items() if v is not None},
        "results": [r.to_dict() for r in results],
    }
