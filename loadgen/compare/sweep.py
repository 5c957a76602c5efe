"""The interleaved sweep: every level runs on every target before the next level starts.

Level 1 runs on A then B, level 2 on B then A, level 3 on A then B, ...: each level's runs are
back to back, and alternating the order cancels a steady drift of a noisy machine (thermal, other
load) instead of always handing it to the same server. Every target gets the same prompts, seed and
schedule, so request `i` of a level is the same request everywhere.

With `repeats` R > 1 each level runs R times, the order alternating per repeat: A B, B A, A B, ...
(ABBA: a linear drift over two repeats costs both servers the same), then each target's repeats
are pooled (`loadgen.compare.repeats`). With `rerun_client_bound`, a level where any run was
client-bound (the load generator, not the server, was the bottleneck) runs once more, all repeats
on all targets; the second attempt's summaries supersede the first's.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any

from loadgen.client import Client, make_client
from loadgen.client.tokens import TokenCounter
from loadgen.compare.repeats import pool_repeats, run_prefix, tag_run
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
    repeats: int = 1,
    rerun_client_bound: bool = False,
    on_pooled: Callable[[dict[str, Any]], None] | None = None,
    on_rerun: Callable[[str], None] | None = None,
    level_prompts: Sequence[Sequence[Prompt]] | None = None,
) -> list[LevelResult]:
    """Run each load level on each target (interleaved, `repeats` times); one reused client per target.

    Returns every run's result (a re-run level's first attempt included); `on_pooled` receives each
    target's pooled summary of a level when `repeats` > 1, `on_rerun` the label of a level about to
    be re-run because it was client-bound. `level_prompts` gives each level prompts of its own
    (default: `prompts` for every level).
    """
    if repeats < 1:
        raise ValueError("repeats must be at least 1")
    stop = stop if stop is not None else asyncio.Event()
    clients: dict[str, Client] = {t.name: make_client(t, request, token_counter) for t in targets}
    results: list[LevelResult] = []
    turn = 0
    try:
        for number, load in enumerate(loads):
            for attempt in (1, 2) if rerun_client_bound else (1,):
                if attempt == 2 and on_rerun is not None:
                    on_rerun(load.label)
                level_results: list[LevelResult] = []
                for repeat in range(repeats):
                    for target in level_order(targets, turn):
                        if stop.is_set():
                            return results
                        prefix = run_prefix(target.name, number, repeat, repeats, attempt)
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
                            id_prefix=prefix,
                        )
                        tag_run(
                            result.summary, prefix=prefix, repeat=repeat, repeats=repeats, attempt=attempt
                        )
                        results.append(result)
                        level_results.append(result)
                        if on_level is not None:
                            on_level(result)
                    turn += 1
                if repeats > 1 and on_pooled is not None:
                    for target in targets:
                        mine = [r for r in level_results if r.target == target.name]
                        on_pooled(pool_repeats(mine, percentiles=percentiles, slo=slo, attempt=attempt))
                if not any(r.selfcheck.client_bound for r in level_results):
                    break
    finally:
        for client in clients.values():
            await client.aclose()
    return results
