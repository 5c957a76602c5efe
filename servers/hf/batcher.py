"""Naive batching: a bounded queue and a loop that runs one `generate` call per batch, one at a time.

The loop takes up to `max_batch_size` waiting requests, holding the batch open until it is full or
`max_wait_ms` has passed since its first request arrived (or, if that request had to wait for the
previous batch to end, since the loop got to it). If requests are still arriving when that window
ends, the batch keeps filling until `burst_gap_ms` pass without an arrival: a burst that takes longer
than the window to arrive (256 clients resending at once take 50-85 ms to reach the server) forms one
batch, not a batch of its first part and a second `generate` call that waits for the first. The batch
then runs in a worker thread and the loop waits for it to end before forming the next one: requests
that arrive meanwhile wait (nothing joins a running batch). The worker thread's per-step events come
back through `call_soon_threadsafe`, one call per step, and are handed to each request's own event
queue and to the metrics.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol

from servers.hf.batch_log import BatchLog, build_record
from servers.hf.metrics import ServerMetrics
from servers.hf.request import Event, Failure, GenRequest, StepEvent
from servers.hf.runner import BatchOutcome, batch_shape
from servers.hf.settings import BatchingSettings
from servers.hf.stepper import Publish

log = logging.getLogger("servers.hf")

LATE_WAKEUP_NS = 1_000_000
"""A fill timer that fires later than this found the event loop busy: the quiet it waited for is void."""


class QueueFullError(Exception):
    """The queue holds `max_queue` requests already."""


class ShuttingDownError(Exception):
    """The server is shutting down and takes no new requests."""


class BatchRunner(Protocol):
    """Runs one batch to the end, streaming events through `publish`; never raises."""

    def run(self, batch: list[GenRequest], publish: Publish) -> BatchOutcome:
        """Generate for every row of `batch`."""
        ...


class Batcher:
    """Owns the waiting queue, the batching loop and the single generate thread."""

    def __init__(self, runner: BatchRunner, settings: BatchingSettings, metrics: ServerMetrics) -> None:
        self._runner = runner
        self._settings = settings
        self._metrics = metrics
        self._queue: deque[GenRequest] = deque()
        self._wakeup = asyncio.Event()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hf-generate")
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._running: list[GenRequest] = []
        self._live = 0
        self._batch_tokens = 0
        """Output tokens the running batch has made so far (its record's `tokens`)."""
        self._last_token_ns: dict[int, int] = {}
        self._closing = False
        self.log = BatchLog()
        self.batches_started = 0
        self.batches_finished = 0
        self.batches_failed = 0

    @property
    def waiting(self) -> int:
        """Requests in the queue."""
        return len(self._queue)

    def stats(self) -> dict[str, Any]:
        """Counters for `/config`."""
        return {
            "batches_started": self.batches_started,
            "batches_finished": self.batches_finished,
            "batches_failed": self.batches_failed,
            "requests_waiting": len(self._queue),
            "requests_running": self._live,
        }

    def start(self) -> None:
        """Start the batching loop on the running event loop."""
        self._loop = asyncio.get_running_loop()
        self._task = self._loop.create_task(self._run(), name="hf-batcher")

    def submit(self, request: GenRequest) -> None:
        """Queue `request`, or raise `QueueFullError` / `ShuttingDownError`."""
        self.submit_rows([request])

    def submit_rows(self, rows: list[GenRequest]) -> None:
        """Queue the rows of one request (its `n` choices) together, or none of them."""
        if self._closing:
            raise ShuttingDownError
        if len(self._queue) + len(rows) > self._settings.max_queue:
            self._metrics.rejected.inc()
            raise QueueFullError
        self._queue.extend(rows)
        self._metrics.waiting.set(len(self._queue))
        self._wakeup.set()

    def withdraw(self, request: GenRequest) -> None:
        """The request's client went away: drop it from the queue, or stop its row at the next step."""
        request.cancelled = True
        try:
            self._queue.remove(request)
        except ValueError:
            return
        self._metrics.waiting.set(len(self._queue))

    async def close(self) -> None:
        """Refuse new work, fail waiting requests, stop running rows and the thread."""
        self._closing = True
        while self._queue:
            row = self._queue.popleft()
            row.events.put_nowait((row.choice_index, Failure(503, "the server is shutting down")))
        self._metrics.waiting.set(0)
        for request in self._running:
            request.cancelled = True
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        await asyncio.get_running_loop().run_in_executor(None, self._executor.shutdown, True)

    async def _run(self) -> None:
        while True:
            batch, wait_s = await self._next_batch()
            if batch:
                await self._run_batch(batch, wait_s)

    async def _next_batch(self) -> tuple[list[GenRequest], float]:
        while not self._queue:
            self._wakeup.clear()
            await self._wakeup.wait()
        formed_from = time.perf_counter_ns()
        settings = self._settings
        # The window opens at the first request's arrival, or when the batcher got to it if later
        # (it was running the previous batch, or the event loop was busy): counting from an arrival
        # that is already `max_wait_ms` old would close the window at once and cut a burst of
        # requests, still arriving, into a batch of its first few and a whole extra `generate` call.
        window_start_ns = max(self._queue[0].arrival_ns, formed_from)
        deadline_ns = window_start_ns + int(settings.max_wait_ms * 1e6)
        gap_ns = int(settings.burst_gap_ms * 1e6)
        # However long a burst goes on, the batch closes by then: at most one gap per row it can hold.
        cap_ns = deadline_ns + settings.max_batch_size * gap_ns
        newest = self._queue[-1]
        quiet_since_ns = newest.arrival_ns
        while 0 < len(self._queue) < settings.max_batch_size:
            now_ns = time.perf_counter_ns()
            if self._queue[-1] is not newest:
                newest = self._queue[-1]
                quiet_since_ns = max(quiet_since_ns, newest.arrival_ns)
            # A burst: a request arrived after the window opened. A lone request waits the window only.
            bursting = gap_ns > 0 and newest.arrival_ns > window_start_ns
            close_ns = min(max(deadline_ns, quiet_since_ns + gap_ns), cap_ns) if bursting else deadline_ns
            if now_ns >= close_ns:
                break
            self._wakeup.clear()
            try:
                await asyncio.wait_for(self._wakeup.wait(), (close_ns - now_ns) / 1e9)
            except TimeoutError:
                woke_ns = time.perf_counter_ns()
                if bursting and woke_ns - close_ns > LATE_WAKEUP_NS:
                    # The timer fired late: the event loop was busy (ending the last batch's streams,
                    # say), so requests may be waiting unread in their sockets. That was no quiet time.
                    quiet_since_ns = woke_ns
        count = _cut(self._queue, settings.max_batch_size)
        batch = [self._queue.popleft() for _ in range(count)]
        self._metrics.waiting.set(len(self._queue))
        return batch, (time.perf_counter_ns() - formed_from) / 1e9

    async def _run_batch(self, batch: list[GenRequest], wait_s: float) -> None:
        assert self._loop is not None
        self.batches_started += 1
        start_ns = time.perf_counter_ns()
        for request in batch:
            request.batch_id = self.batches_started
            request.batch_start_ns = start_ns
        self._running = batch
        self._live = len(batch)
        self._batch_tokens = 0
        self._metrics.running.set(self._live)
        shape = batch_shape(batch)
        self._metrics.on_batch_start(batch, shape.padding_fraction, wait_s, start_ns)
        try:
            outcome = await self._loop.run_in_executor(self._executor, self._runner.run, batch, self._publish)
        finally:
            end_ns = time.perf_counter_ns()
            self._running = []
            self._live = 0
            self._metrics.running.set(0)
            self._metrics.batch_duration.observe((end_ns - start_ns) / 1e9)
        self.batches_finished += 1
        if outcome.failed is not None:
            self.batches_failed += 1
        record, gaps = build_record(
            batch_id=self.batches_started,
            rows=shape.rows,
            max_batch_size=self._settings.max_batch_size,
            width=shape.width,
            prompt_tokens=shape.prompt_tokens,
            padding_fraction=shape.padding_fraction,
            max_new_tokens=max(r.params.max_tokens for r in batch),
            # Every event the worker published has been dispatched by now: its calls were queued
            # on the loop before the executor's future completed.
            tokens=self._batch_tokens,
            wait_s=wait_s,
            start_ns=start_ns,
            end_ns=end_ns,
            step_ns=list(outcome.step_ns),
            failed=outcome.failed,
        )
        self.log.add(record)
        if record.prefill_s is not None:
            self._metrics.prefill.observe(record.prefill_s)
        for gap in gaps:
            self._metrics.decode_step.observe(gap)

    def _publish(self, events: list[tuple[GenRequest, Event]]) -> None:
        assert self._loop is not None
        self._loop.call_soon_threadsafe(self._dispatch, events)

    def _dispatch(self, events: list[tuple[GenRequest, Event]]) -> None:
        metrics = self._metrics
        ended = 0
        for request, event in events:
            request.events.put_nowait((request.choice_index, event))
            key = request.request_id
            if isinstance(event, StepEvent):
                self._batch_tokens += event.new_tokens
                metrics.on_step(request, event, self._last_token_ns.get(key))
                if event.new_tokens:
                    self._last_token_ns[key] = event.token_time_ns
                if event.finish is None:
                    continue
            else:
                metrics.on_finish(request, None, time.perf_counter_ns())
            self._last_token_ns.pop(key, None)
            ended += 1
        if ended:
            self._live = max(0, self._live - ended)
            metrics.running.set(self._live)


def _cut(queue: deque[GenRequest], max_batch_size: int) -> int:
    """How many rows from the queue's head form the next batch: up to `max_batch_size`, without
    splitting one request's choices over two batches unless that request alone exceeds the size."""
    count = min(max_batch_size, len(queue))
    if count == len(queue):
        return count
    group = queue[count - 1].group
    if group is None or queue[count].group != group:
        return count
    start = count - 1
    while start > 0 and queue[start - 1].group == group:
        start -= 1
    return start if start > 0 else count
