"""The interleaved sweep: every level runs on every target before the next level starts.

Level 1 runs on A then B, level 2 on B then A, level 3 on A then B, ...: each level's runs are
back to back, and alternating the order cancels a steady drift of a noisy machine (thermal, other
load) instead of always handing it to the same server. Every target gets the same prompts, seed and
schedule, so request `i` of a level is the same request everywhere.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

from loadgen.client import Client, make_client
from loadgen.client_tokens import TokenCounter
from loadgen.progress import Progress
from loadgen.record import RequestRecord
from loadgen.results import RecordSink
from loadgen.run_config import LoadSpec, RequestOptions, Target
from loadgen.runner import DEFAULT_PERCENTILES, LevelResult, run_level
from loadgen.stats import SLO
from loadgen.workloads.base import Prompt


class RelabelSink:
    """Forwards records to `sink` with their `level` replaced (parity probe, offline batches)."""

    def __init__(self, sink: RecordSink, level: str) -> None:
        self.sink, self.level = sink, level

    def write(self, record: RequestRecord) -> None:
        """Relabel and forward."""
        record.level = self.level
        self.sink.write(record)


def level_order(targets: Sequence[Target], number: int) -> list[Target]:
    """The order targets run level `number` in: as given on even levels, reversed on odd ones."""
    return list(targets) if number % 2 == 0 else list(reversed(targets))


async def interleaved_sweep(
    targets: Sequence[Target],
    prompts: Sequence[Prompt],
    loads: Sequence[LoadSpec],
    request: RequestOptions,
    sink: RecordSink,
    *,
    stop: asyncio.Event | None = None,
    progress: Progress | None = None,
    percentiles: Sequence[float] = DEFAULT_PERCENTILES,
    slo: SLO | None = None,
    token_counter: TokenCounter | None = None,
    on_level: Callable[[LevelResult], None] | None = None,
    level_prompts: Sequence[Sequence[Prompt]] | None = None,
) -> list[LevelResult]:
    """Run each load level on each target (interleaved); one reused client per target.

    `level_prompts` gives each level prompts of its own (default: `prompts` for every level).
    """
    stop = stop if stop is not None else asyncio.Event()
    clients: dict[str, Client] = {t.name: make_client(t, request, token_counter) for t in targets}
    results: list[LevelResult] = []
    try:
        for number, load in enumerate(loads):
            for target in level_order(targets, number):
                if stop.is_set():
                    return results
                result = await run_level(
                    target,
                    prompts if level_prompts is None else level_prompts[number],
                    load,
                    request,
                    sink,
                    stop=stop,
                    progress=progress,
                    percentiles=percentiles,
                    slo=slo,
                    token_counter=token_counter,
                    client=clients[target.name],
                    id_prefix=f"{target.name}-{number}",
                )
                results.append(result)
                if on_level is not None:
                    on_level(result)
    finally:
        for client in clients.values():
            await client.aclose()
    return results
