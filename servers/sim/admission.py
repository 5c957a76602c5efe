"""The `--max-concurrency` gate: requests beyond the limit wait in a first-come queue."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from time import perf_counter_ns
from typing import Protocol

from servers.sim.httpproto import Exchange


class Slots(Protocol):
    """What the generator asks of its admission policy (`Admission`, `StaticBatches`)."""

    running: int

    @property
    def waiting(self) -> int:
        """Requests queued now."""
        ...

    async def enter(self, exchange: Exchange) -> int | None:
        """Wait for a place; the wait in ns, or None when the client left first."""
        ...

    def leave(self, tokens: int = 0) -> None:
        """Give the place back, after making `tokens` tokens (0: the client left before it was served)."""
        ...


async def wait_in_queue(
    slots: Slots,
    waiters: deque[asyncio.Future[bool | None]],
    exchange: Exchange,
    on_queued: Callable[[], None] | None = None,
) -> int | None:
    """Queue for a place that `slots` grants by resolving a future with True: the wait in ns, or None
    when the client left first (a place granted to a client already gone is given back)."""
    start = perf_counter_ns()
    future: asyncio.Future[bool | None] = asyncio.get_running_loop().create_future()
    waiters.append(future)
    if on_queued is not None:
        on_queued()
    granted = await exchange.wait_for(future)
    if granted:
        if exchange.gone:
            slots.leave()
            return None
        return perf_counter_ns() - start
    try:
        waiters.remove(future)
    except ValueError:
        pass
    return None


class Admission:
    """Counts running and waiting requests; `enter` returns the time spent waiting, or None if the
    client left while it waited."""

    def __init__(self, limit: int | None) -> None:
        self.limit = limit
        self.running = 0
        self._waiters: deque[asyncio.Future[bool | None]] = deque()

    @property
    def waiting(self) -> int:
        """Requests queued for a slot now."""
        return sum(1 for future in self._waiters if not future.done())

    async def enter(self, exchange: Exchange) -> int | None:
        """Take a slot (waiting if all are taken); None when the client disconnected first."""
        if self.limit is None or (self.running < self.limit and not self._waiters):
            self.running += 1
            return 0
        return await wait_in_queue(self, self._waiters, exchange)

    def leave(self, tokens: int = 0) -> None:
        """Give a slot back, handing it to the longest waiter still there (`tokens` is not used here)."""
        self.running -= 1
        while self._waiters:
            future = self._waiters.popleft()
            if not future.done():
                self.running += 1
                future.set_result(True)
                return
