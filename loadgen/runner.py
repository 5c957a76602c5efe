"""Run load levels against a target: the public async API of the load generator.

    result = await run_level(target, prompts, load, request, sink, live=None)
    results = await run_sweep(target, prompts, loads, request, sink, live=None)

- `target`: `Target(name, base_url, model, api_key)`; `prompts`: `Sequence[Prompt]` (request `i` uses
  `prompts[i % len(prompts)]`); `load`: `LoadSpec` (closed loop at a concurrency, or open loop at a
  rate with constant/Poisson/gamma arrivals and an optional concurrency cap; count and/or duration
  bound; warm-up requests; seed); `request`: `RequestOptions` (API, streaming, max_tokens, sampling,
  timeouts, client); `sink`: any `RecordSink` (`results.JsonlSink`, `results.MemorySink`), given every
  record, warm-up included, the moment it finishes; `live`: optional `exporter.LiveMetrics`.
- Keyword options: `stop` (an `asyncio.Event`: set it to stop scheduling; requests in flight are
  cancelled and recorded as `cancelled`), `progress` (`progress.Progress`), `percentiles`, `slo`,
  `token_counter` (fallback output-token counting), `client` (reuse an open `Client`), `id_prefix`.
- `LevelResult.summary` is `stats.summarize(...)` (vLLM `bench serve` field names) plus `target`,
  `level`, `label`, `load`, `selfcheck` and `client_bound`.

Timing: closed-loop latency counts from the send; open-loop latency from the scheduled send time, so
a generator that falls behind shows in the numbers (and in the self-check) instead of hiding.
Connections are opened before the first request, up to the concurrency. A fixed seed gives the same
schedule and prompt order on every run, so it can be replayed against another server.
"""

from __future__ import annotations

import asyncio
import gc
import os
from array import array
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from time import perf_counter_ns
from typing import TYPE_CHECKING, Any

from loadgen import errors
from loadgen.client import Client, make_client
from loadgen.client.tokens import TokenCounter
from loadgen.errors import ConfigError
from loadgen.progress import Progress
from loadgen.record import RequestRecord
from loadgen.results import RecordSink
from loadgen.run_config import LoadSpec, RequestOptions, Target
from loadgen.schedule import arrival_offsets_ns
from loadgen.selfcheck import LoopLagSampler, SelfCheckReport, cpu_wait_s, judge, process_cpu_s
from loadgen.stats import SLO, summarize
from loadgen.workloads.base import Prompt

if TYPE_CHECKING:  # prometheus_client is imported only by runs that serve live metrics
    from loadgen.exporter import LiveMetrics

DEFAULT_PERCENTILES: tuple[float, ...] = (50, 90, 95, 99)


@dataclass
class LevelResult:
    """One load level's records (warm-up included), summary and self-check."""

    target: str
    level: str
    load: LoadSpec
    records: list[RequestRecord]
    summary: dict[str, Any]
    selfcheck: SelfCheckReport
    duration_s: float
    interrupted: bool = False

    @property
    def measured(self) -> list[RequestRecord]:
        """The records of the measured requests (warm-up left out), in schedule order."""
        return [r for r in self.records if not r.warmup]


def measured_window_s(records: Sequence[RequestRecord]) -> float:
    """The measured span: first start (scheduled or send) to last end of the non-warm-up records."""
    measured = [r for r in records if not r.warmup and r.end_ns is not None]
    if not measured:
        return 0.0
    start = min(r.start_ns for r in measured)
    end = max(r.end_ns for r in measured if r.end_ns is not None)
    return max(0.0, (end - start) / 1e9)


class _Level:
    """The state of one running level."""

    def __init__(
        self,
        target: Target,
        prompts: Sequence[Prompt],
        load: LoadSpec,
        request: RequestOptions,
        client: Client,
        sink: RecordSink,
        live: LiveMetrics | None,
        progress: Progress | None,
        stop: asyncio.Event,
        id_prefix: str,
    ) -> None:
        self.target, self.prompts, self.load, self.request = target, prompts, load, request
        self.client, self.sink, self.live, self.progress, self.stop = client, sink, live, progress, stop
        self.id_prefix = id_prefix
        self.records: list[RequestRecord] = []
        self.tasks: set[asyncio.Task[None]] = set()
        self.schedule_lags = array("q")
        self.next_index = 0
        self.measured_start_ns: int | None = None
        self.end_index = None if load.num_requests is None else load.warmup_requests + load.num_requests
        self.duration_ns = None if load.duration_s is None else int(load.duration_s * 1e9)

    # -- one request ------------------------------------------------------------------------------
    def _new_record(self, index: int, scheduled_ns: int | None) -> tuple[Prompt, RequestRecord]:
        prompt = self.prompts[index % len(self.prompts)]
        record = RequestRecord(
            request_id=f"{self.id_prefix}-{index}",
            target=self.target.name,
            index=index,
            api=self.request.api,
            stream=self.request.stream,
            send_ns=0,
            scheduled_ns=scheduled_ns,
            level=self.load.label,
            warmup=index < self.load.warmup_requests,
            expected_prompt_tokens=prompt.prompt_tokens,
            max_tokens=prompt.output_tokens if prompt.output_tokens is not None else self.request.max_tokens,
            n=self.request.n,
        )
        return prompt, record

    async def one(self, index: int, scheduled_ns: int | None, cap: asyncio.Semaphore | None = None) -> None:
        """Send request `index`, record it, hand it to the sink."""
        prompt, record = self._new_record(index, scheduled_ns)
        sent = False
        try:
            if cap is not None:
                await cap.acquire()
            try:
                sent = True
                if self.progress is not None:
                    self.progress.in_flight += 1
                if self.live is not None:
                    self.live.request_started(self.target.name)
                await self.client.send(prompt, record)
            finally:
                if self.progress is not None:
                    self.progress.in_flight -= 1
                if cap is not None:
                    cap.release()
        except asyncio.CancelledError:
            now = perf_counter_ns()
            if not record.send_ns:
                record.send_ns = now
            record.end_ns = now
            record.error_class = errors.CANCELLED
            record.error_message = (
                "the run was stopped" if sent else "the run was stopped before this request was sent"
            )
            self._finished(record, observed=sent)
            raise
        self._finished(record, observed=True)

    def _finished(self, record: RequestRecord, *, observed: bool) -> None:
        self.records.append(record)
        self.sink.write(record)
        if self.live is not None and observed:
            self.live.observe(record)
        if self.progress is not None:
            self.progress.request_done(record.ok)

    # -- closed loop ------------------------------------------------------------------------------
    def _take_index(self) -> int | None:
        if self.stop.is_set():
            return None
        index = self.next_index
        if self.end_index is not None and index >= self.end_index:
            return None
        if index >= self.load.warmup_requests:
            now = perf_counter_ns()
            if self.measured_start_ns is None:
                self.measured_start_ns = now
            elif self.duration_ns is not None and now - self.measured_start_ns >= self.duration_ns:
                return None
        self.next_index += 1
        return index

    async def _worker(self) -> None:
        while (index := self._take_index()) is not None:
            await self.one(index, None)

    async def run_closed(self) -> None:
        """N workers, each sending its next request as soon as its last one ends."""
        assert self.load.concurrency is not None
        workers = [asyncio.create_task(self._worker()) for _ in range(self.load.concurrency)]
        await self._wait(workers)

    # -- open loop --------------------------------------------------------------------------------
    async def _dispatch(self) -> None:
        load = self.load
        assert load.rate is not None
        cap = asyncio.Semaphore(load.concurrency) if load.concurrency is not None else None
        offsets = arrival_offsets_ns(load.rate, load.arrival, load.burstiness, load.seed)
        t0 = perf_counter_ns()
        measured_offset: int | None = None
        index = 0
        while self.end_index is None or index < self.end_index:
            offset = next(offsets)
            if index >= load.warmup_requests:
                if measured_offset is None:
                    measured_offset = offset
                    self.measured_start_ns = t0 + offset
                elif self.duration_ns is not None and offset - measured_offset >= self.duration_ns:
                    break
            scheduled = t0 + offset
            delay = scheduled - perf_counter_ns()
            if delay > 0:
                await asyncio.sleep(delay / 1e9)
            if self.stop.is_set():
                break
            if index >= load.warmup_requests:
                self.schedule_lags.append(max(0, perf_counter_ns() - scheduled))
            task = asyncio.create_task(self.one(index, scheduled, cap))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)
            index += 1
        self.next_index = index
        while self.tasks:
            await asyncio.gather(*list(self.tasks), return_exceptions=True)

    async def run_open(self) -> None:
        """Send at the scheduled times whatever is in flight (up to the optional cap)."""
        await self._wait([asyncio.create_task(self._dispatch())])

    # -- stopping ---------------------------------------------------------------------------------
    async def _wait(self, tasks: list[asyncio.Task[None]]) -> None:
        stopper = asyncio.create_task(self.stop.wait())
        try:
            # Wait on the pending tasks only: a finished task left in the set would make every
            # asyncio.wait return at once, a busy loop that takes a core from the servers under test
            # for as long as the last requests of a level are in flight.
            pending: set[asyncio.Task[Any]] = {*tasks, stopper}
            while True:
                done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                if stopper in done or all(t.done() for t in tasks):
                    break
        finally:
            stopper.cancel()
            everything = [*tasks, *self.tasks]
            for task in everything:
                task.cancel()
            results = await asyncio.gather(*everything, return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException) and not isinstance(result, asyncio.CancelledError):
                raise result


async def run_level(
    target: Target,
    prompts: Sequence[Prompt],
    load: LoadSpec,
    request: RequestOptions,
    sink: RecordSink,
    live: LiveMetrics | None = None,
    *,
    stop: asyncio.Event | None = None,
    progress: Progress | None = None,
    percentiles: Sequence[float] = DEFAULT_PERCENTILES,
    slo: SLO | None = None,
    token_counter: TokenCounter | None = None,
    client: Client | None = None,
    id_prefix: str | None = None,
) -> LevelResult:
    """Run one load level against `target` and return its records, summary and self-check."""
    if not prompts:
        raise ConfigError("no prompts to send")
    if request.api == "completions" and any(p.text is None for p in prompts):
        raise ConfigError("these prompts are chat messages: use the chat API (--api chat)")
    own_client = client is None
    client = client if client is not None else make_client(target, request, token_counter)
    stop = stop if stop is not None else asyncio.Event()
    prefix = id_prefix if id_prefix is not None else f"lg{os.urandom(4).hex()}"
    level = _Level(target, prompts, load, request, client, sink, live, progress, stop, prefix)
    try:
        await client.preopen(load.connections)
    except Exception:  # noqa: BLE001 - an unreachable server is recorded per request, not raised
        pass
    sampler = LoopLagSampler(on_sample=live.set_loop_lag if live is not None else None)
    total = level.end_index
    if progress is not None:
        progress.start_level(f"{target.name} {load.label}", total, load.duration_s)
    gc.collect()
    gc.freeze()  # a full collection during the window then skips every object made before it: no long pauses
    cpu0, wall0, wait0 = process_cpu_s(), perf_counter_ns(), cpu_wait_s()
    sampler.start()
    try:
        if load.mode == "closed":
            await level.run_closed()
        else:
            await level.run_open()
    finally:
        sampler.stop()
        gc.unfreeze()
        if progress is not None:
            progress.end_level()
        if own_client:
            await client.aclose()
    wall_s = (perf_counter_ns() - wall0) / 1e9
    cpu_s = process_cpu_s() - cpu0
    wait1 = cpu_wait_s()
    waited_s = None if wait0 is None or wait1 is None else wait1 - wait0
    records = sorted(level.records, key=lambda r: r.index)
    target_in_flight: float | None = None
    if load.mode == "closed" and load.concurrency is not None:
        target_in_flight = float(min(load.concurrency, max(1, level.next_index)))
    report = judge(
        wall_s=wall_s,
        cpu_s=cpu_s,
        lags_ns=sampler.lags_ns,
        records=records,
        target_in_flight=target_in_flight,
        schedule_lags_ns=level.schedule_lags,
        waited_s=waited_s,
    )
    duration_s = measured_window_s(records)
    summary = summarize(records, duration_s=duration_s, percentiles=percentiles, slo=slo)
    summary.update(
        target=target.name,
        level=load.label,
        label=f"{target.name} {load.label}",
        load=asdict(load),
        request={
            "api": request.api,
            "stream": request.stream,
            "max_tokens": request.max_tokens,
            "client": request.client,
        },
        selfcheck=report.to_dict(),
        client_bound=report.client_bound,
        interrupted=stop.is_set(),
    )
    return LevelResult(target.name, load.label, load, records, summary, report, duration_s, stop.is_set())


async def run_sweep(
    target: Target,
    prompts: Sequence[Prompt],
    loads: Sequence[LoadSpec],
    request: RequestOptions,
    sink: RecordSink,
    live: LiveMetrics | None = None,
    *,
    stop: asyncio.Event | None = None,
    progress: Progress | None = None,
    percentiles: Sequence[float] = DEFAULT_PERCENTILES,
    slo: SLO | None = None,
    token_counter: TokenCounter | None = None,
    on_level: Callable[[LevelResult], None] | None = None,
    id_prefix: str | None = None,
) -> list[LevelResult]:
    """Run each level in turn on one shared client; stops early if `stop` is set."""
    stop = stop if stop is not None else asyncio.Event()
    client = make_client(target, request, token_counter)
    prefix = id_prefix if id_prefix is not None else f"lg{os.urandom(4).hex()}"
    results: list[LevelResult] = []
    try:
        for number, load in enumerate(loads):
            if stop.is_set():
                break
            result = await run_level(
                target,
                prompts,
                load,
                request,
                sink,
                live,
                stop=stop,
                progress=progress,
                percentiles=percentiles,
                slo=slo,
                token_counter=token_counter,
                client=client,
                id_prefix=f"{prefix}-{number}",
            )
            results.append(result)
            if on_level is not None:
                on_level(result)
    finally:
        await client.aclose()
    return results


def new_event_loop(kind: str = "auto") -> asyncio.AbstractEventLoop:
    """An event loop: uvloop when installed (`auto`), or `uvloop` / `asyncio` explicitly."""
    if kind in ("auto", "uvloop"):
        try:
            import uvloop
        except ImportError:
            if kind == "uvloop":
                raise ConfigError("uvloop is not installed: pip install uvloop") from None
        else:
            loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
            return loop
    return asyncio.new_event_loop()
