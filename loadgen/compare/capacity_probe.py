"""Capacity at SLO against real targets: each probe a short open-loop level, the servers alternating.

Every probe sends the comparison's prompts with the plan's arrival process, seed and cap, at the
probe's rate; its records go to `capacity.jsonl` (level `capacity rate=R`), the answers to
`capacity.json`. A probe whose failure is certain ends there (`capacity.failure_settled`): its
requests in flight are recorded as cancelled and the rest are not sent. One cut short by the run's
stop first is `interrupted`: no verdict, and the search ends. A probe sends at least
`--num-requests` (default: 5 seconds' worth, at least `--min-requests`), and more when the target's
last passing probe says that many would not span `SUSTAINED_SPANS` median latencies; a probe that
passed as a burst anyway is run once more at the same rate, long enough, and only that run counts.
The search itself is `loadgen.compare.capacity`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from loadgen import errors
from loadgen.compare.capacity import (
    DEFAULT_TOLERANCE,
    GOODPUT_TARGET,
    CapacityResult,
    CapacitySearch,
    ProbeResult,
    failure_settled,
    missed_slo,
    probe_shape,
    sustained_count,
)
from loadgen.compare.plan import ComparePlan
from loadgen.compare.sweep import RelabelSink, level_order
from loadgen.record import RequestRecord
from loadgen.results import RecordSink
from loadgen.run_config import LoadSpec, RequestOptions, Target
from loadgen.runner import run_level
from loadgen.schedule import gap_shape
from loadgen.stats import SLO
from loadgen.workloads.base import Prompt

PROBE_SECONDS = 5.0
"""Arrivals per probe when `--num-requests` is not given: about this many seconds' worth."""
MAX_PROBE_REQUESTS = 2000
"""The most requests a probe lengthened to a sustained span sends."""


@dataclass(frozen=True)
class CapacitySettings:
    """The search's bounds."""

    max_rate: float = 64.0
    max_steps: int = 12
    start_rate: float = 1.0
    threshold: float = GOODPUT_TARGET
    min_rate: float | None = None
    """Lowest rate tried (None: `max_rate / 2**20`)."""

    @classmethod
    def of(cls, plan: ComparePlan) -> CapacitySettings:
        """The plan's bounds; the search starts at the lowest `--rate` level (open loop), else 1 req/s."""
        start = min(plan.levels) if plan.mode == "open" and plan.levels else 1.0
        start = min(start, plan.capacity_max_rate)
        if plan.capacity_min_rate is not None:
            start = max(start, plan.capacity_min_rate)
        return cls(plan.capacity_max_rate, plan.capacity_steps, start, min_rate=plan.capacity_min_rate)


class VerdictSink:
    """Forwards a probe's records and ends the probe (sets `done`) once its failure is certain: so
    many measured requests missed the SLO that the probe cannot reach the threshold."""

    def __init__(
        self, sink: RecordSink, slo: SLO, planned: int, threshold: float, done: asyncio.Event
    ) -> None:
        self.sink, self.slo, self.planned, self.threshold, self.done = sink, slo, planned, threshold, done
        self.missed = 0
        self.settled = False
        """True once this sink ended the probe."""

    def write(self, record: RequestRecord) -> None:
        """Forward `record`; count it if it is a measured request that missed the SLO (`missed_slo`:
        not a cancelled one)."""
        self.sink.write(record)
        if record.warmup or self.settled or not missed_slo(record, self.slo):
            return
        self.missed += 1
        if failure_settled(self.planned, self.missed, self.threshold):
            self.settled = True
            self.done.set()


def probe_count(plan: ComparePlan, rate: float, e2e_p50_s: float | None = None) -> int:
    """Requests of a probe at `rate`: `--num-requests`, else 5 seconds' worth and at least
    `--min-requests`; raised to span `SUSTAINED_SPANS` latencies of `e2e_p50_s` (the target's last
    passing probe) when that takes more, up to `MAX_PROBE_REQUESTS`."""
    count = plan.requests_per_level or max(plan.min_requests, round(PROBE_SECONDS * rate))
    if e2e_p50_s:
        count = max(count, min(MAX_PROBE_REQUESTS, sustained_for(plan, rate, e2e_p50_s)))
    return count


def sustained_for(plan: ComparePlan, rate: float, e2e_p50_s: float) -> int:
    """`sustained_count` with the gaps of the plan's arrival process."""
    return sustained_count(rate, e2e_p50_s, gap_shape(plan.arrival, plan.burstiness))


def probe_load(plan: ComparePlan, rate: float, count: int | None = None) -> LoadSpec:
    """The open-loop level one probe runs (`count` requests, default `probe_count`)."""
    count = count if count is not None else probe_count(plan, rate)
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
            min_rate=settings.min_rate,
        )
        for t in targets
    }
    counts = dict.fromkeys(searches, 0)
    latency: dict[str, float] = {}
    """Target -> median E2E (s) of its last passing probe: sizes its next probe."""

    async def run_probe(target: Target, rate: float, count: int) -> ProbeResult:
        counts[target.name] += 1
        load = probe_load(plan, rate, count)
        probe_stop = asyncio.Event()
        verdict = VerdictSink(
            RelabelSink(sink, f"capacity rate={rate:g}"), slo, count, settings.threshold, probe_stop
        )
        forward = asyncio.create_task(_forward(stop, probe_stop))
        try:
            result = await run_level(
                target,
                prompts,
                load,
                request,
                verdict,
                stop=probe_stop,
                slo=slo,
                id_prefix=f"{target.name}-capacity{counts[target.name]}",
            )
        finally:
            forward.cancel()
        measured = result.measured
        window_s, e2e_p50_s = probe_shape(measured)
        cut = len(measured) < count or any(r.error_class == errors.CANCELLED for r in measured)
        interrupted = stop.is_set() and not verdict.settled and cut
        outcome = ProbeResult(
            rate=rate,
            requests=count if verdict.settled or interrupted else len(measured),
            met_slo=sum(1 for r in measured if slo.met_by(r)),
            client_bound=result.selfcheck.client_bound,
            achieved_rate=float(result.summary.get("request_throughput") or 0.0),
            ended_early=verdict.settled,
            window_s=window_s,
            e2e_p50_s=e2e_p50_s,
            interrupted=interrupted,
        )
        if on_probe is not None:
            on_probe(target.name, outcome)
        return outcome

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
            outcome = await run_probe(target, rate, probe_count(plan, rate, latency.get(target.name)))
            passed = outcome.passed(settings.threshold)
            if passed and outcome.burst and outcome.e2e_p50_s and not stop.is_set():
                # The server absorbed a burst: only a probe that spans its latency says it keeps up.
                search.note(outcome)
                longer = max(outcome.requests + 1, sustained_for(plan, rate, outcome.e2e_p50_s))
                outcome = await run_probe(target, rate, min(MAX_PROBE_REQUESTS, longer))
                passed = outcome.passed(settings.threshold)
            if passed and outcome.e2e_p50_s:
                latency[target.name] = outcome.e2e_p50_s
            search.record(outcome)
        turn += 1
    return [s.result() for s in searches.values()]


async def _forward(stop: asyncio.Event, probe_stop: asyncio.Event) -> None:
    """Set `probe_stop` when the whole run's `stop` is set."""
    await stop.wait()
    probe_stop.set()


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
        "min_rate": settings.min_rate,
        "arrival": plan.arrival,
        "burstiness": plan.burstiness,
        "max_concurrency": plan.max_concurrency,
        "slo": {k: v for k, v in asdict(slo).items() if v is not None},
        "results": [r.to_dict() for r in results],
    }
