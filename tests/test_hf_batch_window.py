"""The batching window of the HF server's `Batcher`, with a stand-in runner (no model, no server).

A burst of requests must not be cut in two: the window of the next batch opens when the batcher gets
to its first request, not at that request's (older) arrival; and a burst still arriving when the
window ends keeps filling the batch until `burst_gap_ms` pass without an arrival.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from servers.hf.batcher import Batcher
from servers.hf.metrics import ServerMetrics
from servers.hf.params import GenerationParams
from servers.hf.request import Event, GenRequest, StepEvent
from servers.hf.runner import BatchOutcome
from servers.hf.settings import BatchingSettings
from servers.hf.stepper import Publish

WINDOW_MS = 500.0


class GatedRunner:
    """Holds its first batch until `release` is set; ends every row at once with one token."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.batches: list[list[int]] = []

    def run(self, batch: list[GenRequest], publish: Publish) -> BatchOutcome:
        """Record the batch, wait for the gate on the first one, then finish every row."""
        self.batches.append([r.request_id for r in batch])
        if len(self.batches) == 1:
            self.release.wait(30)
        now = time.perf_counter_ns()
        events: list[tuple[GenRequest, Event]] = [(r, StepEvent("x", 1, now, None)) for r in batch]
        publish(events)
        return BatchOutcome(steps=1)


def _request() -> GenRequest:
    return GenRequest([1, 2, 3], GenerationParams(max_tokens=1))


async def _until(condition: Callable[[], bool], timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached")
        await asyncio.sleep(0.005)


async def test_a_request_queued_behind_a_running_batch_still_gets_a_full_window() -> None:
    runner = GatedRunner()
    settings = BatchingSettings(max_batch_size=3, max_wait_ms=WINDOW_MS, max_queue=16)
    batcher = Batcher(runner, settings, ServerMetrics("test", 2048))
    batcher.start()
    try:
        running = [_request() for _ in range(3)]
        for request in running:
            batcher.submit(request)  # a full batch: starts at once and holds at the gate
        await _until(lambda: len(runner.batches) == 1)
        early = _request()
        batcher.submit(early)
        await asyncio.sleep(WINDOW_MS / 1000 * 1.5)  # `early` is now older than the window
        runner.release.set()
        await _until(lambda: batcher.batches_finished >= 1)
        late = _request()  # the rest of the burst that `early` started
        batcher.submit(late)
        await _until(lambda: late.batch_id is not None)
        assert runner.batches[1] == [early.request_id, late.request_id]
        assert early.batch_id == late.batch_id == 2
    finally:
        runner.release.set()
        await batcher.close()


@asynccontextmanager
async def _open_batcher(settings: BatchingSettings) -> AsyncIterator[tuple[Batcher, GatedRunner]]:
    """A started batcher over a runner whose gate is open; closed on the way out."""
    runner = GatedRunner()
    runner.release.set()
    batcher = Batcher(runner, settings, ServerMetrics("test", 2048))
    batcher.start()
    try:
        yield batcher, runner
    finally:
        await batcher.close()


async def _trickle(batcher: Batcher, count: int, every_s: float) -> list[GenRequest]:
    requests = []
    for _ in range(count):
        request = _request()
        batcher.submit(request)
        requests.append(request)
        await asyncio.sleep(every_s)
    return requests


async def test_a_burst_longer_than_the_window_forms_one_batch() -> None:
    """Arrivals every 10 ms for 150 ms, a 20 ms window, a 100 ms burst gap: one batch of all 16."""
    settings = BatchingSettings(max_batch_size=64, max_wait_ms=20, max_queue=64, burst_gap_ms=100)
    async with _open_batcher(settings) as (batcher, runner):
        burst = await _trickle(batcher, 16, 0.010)
        await _until(lambda: all(r.batch_id is not None for r in burst))
        assert runner.batches == [[r.request_id for r in burst]]


async def test_without_the_burst_gap_the_window_cuts_the_burst() -> None:
    """The same burst with `burst_gap_ms=0` (a fixed window): the first batch closes after 20 ms."""
    settings = BatchingSettings(max_batch_size=64, max_wait_ms=20, max_queue=64, burst_gap_ms=0)
    async with _open_batcher(settings) as (batcher, runner):
        burst = await _trickle(batcher, 16, 0.010)
        await _until(lambda: all(r.batch_id is not None for r in burst))
        assert len(runner.batches) > 1
        assert len(runner.batches[0]) < 16


async def test_a_busy_event_loop_is_not_a_quiet_gap() -> None:
    """The loop is blocked for longer than the gap mid-burst (as while it ends a batch's streams): the
    late timer does not count as quiet, and the requests that follow join the same batch."""
    settings = BatchingSettings(max_batch_size=64, max_wait_ms=20, max_queue=64, burst_gap_ms=100)
    async with _open_batcher(settings) as (batcher, runner):
        first = await _trickle(batcher, 4, 0.010)
        time.sleep(0.3)  # blocks the event loop: the batcher's timer cannot fire on time
        await asyncio.sleep(0.010)  # the overdue timer fires first, with nothing new in the queue
        rest = await _trickle(batcher, 4, 0.010)
        await _until(lambda: all(r.batch_id is not None for r in first + rest))
        assert runner.batches == [[r.request_id for r in first + rest]]


async def test_a_lone_request_waits_the_window_only() -> None:
    """Nothing arrives after it: the burst gap does not lengthen the wait past `max_wait_ms`."""
    settings = BatchingSettings(max_batch_size=8, max_wait_ms=20, max_queue=8, burst_gap_ms=2000)
    async with _open_batcher(settings) as (batcher, _):
        started = time.perf_counter()
        lone = _request()
        batcher.submit(lone)
        await _until(lambda: lone.batch_id is not None)
        assert time.perf_counter() - started < 1.0


def test_a_requests_choices_are_not_split_over_two_batches() -> None:
    """n rows of one request stay together: the cut moves before the group when it would split it."""
    from collections import deque

    from servers.hf.batcher import _cut

    def rows(group: int | None, count: int) -> list[GenRequest]:
        made = [GenRequest([1], GenerationParams(max_tokens=1), choice_index=i) for i in range(count)]
        for row in made:
            row.group = group
        return made

    queue = deque([*rows(None, 1), *rows(7, 3), *rows(None, 1)])
    assert _cut(queue, 3) == 1  # [single] now, the 3 choices together next
    assert _cut(deque(rows(7, 3) + rows(None, 2)), 4) == 4  # the group and one single fit
    assert _cut(deque(rows(None, 2) + rows(7, 3)), 4) == 2
    assert _cut(deque(rows(7, 5)), 3) == 3  # a group bigger than a batch has to be split
    assert _cut(deque(rows(None, 5)), 3) == 3
