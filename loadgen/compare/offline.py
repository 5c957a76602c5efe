"""Offline-style fixed batches: N prompts sent at once, timed until the last one finishes.

This is the shape of the published "vLLM vs HF generate" comparisons (a batch of 4-32 prompts,
time to complete it, tokens per second), measured here through each server's HTTP API. Each batch
size runs on every target before the next size (alternating the order), and the server's memory is
sampled throughout (peak RSS of its process tree).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from loadgen.client.tokens import TokenCounter
from loadgen.compare.memory import PeakRss
from loadgen.compare.sweep import RelabelSink, level_order
from loadgen.record import RequestRecord
from loadgen.results import RecordSink
from loadgen.run_config import LoadSpec, RequestOptions, Target
from loadgen.runner import run_level
from loadgen.workloads.base import Prompt


@dataclass
class BatchResult:
    """One fixed batch on one server."""

    target: str
    batch_size: int
    completed: int
    failed: int
    seconds: float
    """First send to the last response's end."""
    output_tokens: int
    output_tokens_per_s: float
    total_tokens_per_s: float
    mean_ttft_ms: float | None
    peak_rss_bytes: int | None
    server_batches: dict[str, Any] | None = None
    """Digest of the batches the server itself formed for this batch (`server_batches.digest`)."""
    gpu: dict[str, Any] | None = None
    """The GPU's state while the batch ran (`loadgen.gpu_monitor.summarize`), when it was sampled."""

    def to_dict(self) -> dict[str, Any]:
        """As a plain dict for `offline.json`."""
        return asdict(self)


async def run_batches(
    targets: Sequence[Target],
    prompts: Sequence[Prompt],
    sizes: Sequence[int],
    request: RequestOptions,
    sink: RecordSink,
    pids: Mapping[str, int | None],
    *,
    seed: int = 0,
    token_counter: TokenCounter | None = None,
    stop: asyncio.Event | None = None,
    on_batch: Callable[[BatchResult], None] | None = None,
    gpu_view: Callable[[Sequence[RequestRecord]], dict[str, Any] | None] | None = None,
) -> list[BatchResult]:
    """Send each batch size to each target at once and time it (`gpu_view`: the GPU's state over a
    batch's requests, e.g. `GpuMonitor.level_done`)."""
    results: list[BatchResult] = []
    for number, size in enumerate(sizes):
        load = LoadSpec(mode="closed", concurrency=size, num_requests=size, warmup_requests=0, seed=seed)
        for target in level_order(targets, number):
            if stop is not None and stop.is_set():
                return results
            with PeakRss(pids.get(target.name)) as rss:
                level = await run_level(
                    target,
                    prompts,
                    load,
                    request,
                    RelabelSink(sink, f"batch={size}"),
                    stop=stop,
                    token_counter=token_counter,
                    id_prefix=f"{target.name}-batch{size}",
                )
            s = level.summary
            results.append(
                BatchResult(
                    target=target.name,
                    batch_size=size,
                    completed=s["completed"],
                    failed=s["failed"],
                    seconds=s["duration"],
                    output_tokens=s["total_output_tokens"],
                    output_tokens_per_s=s["output_throughput"],
                    total_tokens_per_s=s["total_token_throughput"],
                    mean_ttft_ms=s["mean_ttft_ms"],
                    peak_rss_bytes=rss.peak,
                    gpu=None if gpu_view is None else gpu_view(level.records),
                )
            )
            if on_batch is not None:
                on_batch(results[-1])
    return results
