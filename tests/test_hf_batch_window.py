"""The batching window of the HF server's `Batcher`, with a stand-in runner (no model, no server).

A burst of requests that starts arriving while a batch runs must not be cut in two: the window of the
next batch opens when the batcher gets to its first request, not at that request's (older) arrival.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable

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
