"""`--batching static`: naive static batching, the way a server around `generate` batches.

Requests wait in a first-come queue. When no batch is running, the next batch starts with up to
`size` waiting requests: at once when `size` are waiting, else `wait_ms` after the first of them came
(so requests that arrive together share a batch). Every member is paced as usual (each step costs the
same time), and a member's stream ends at its own length, but the batch holds the server until its
longest member has finished: requests that arrive meanwhile wait for the whole batch. The default
(`--batching continuous`, `Admission`) refills a finished slot at once instead.

Like the HF server, a static sim keeps a record of every batch it ran for `GET /batches`: its rows,
its steps (its longest member's tokens) and the tokens its members made, so the comparison's batch
digest reads the same fields from both.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from typing import Any

from servers.sim.admission import wait_in_queue
from servers.sim.httpproto import Exchange


class StaticBatches:
    """The same interface as `Admission`: `enter` waits for a place in a batch (returns the wait in ns,
    or None if the client left first), `leave` ends a member; `running`/`waiting` feed the gauges."""

    def __init__(self, size: int, wait_ms: float) -> None:
        self.size = size
        self.wait_s = wait_ms / 1e3
        self.running = 0
        """Members of the current batch still generating."""
        self.members = 0
        """Members of the current batch, finished or not (0: no batch running)."""
        self.batches = 0
        self.records: deque[dict[str, Any]] = deque(maxlen=10_000)
        """The last batches run, oldest first, as the HF server's `/batches` records them."""
        self._waiters: deque[asyncio.Future[bool | None]] = deque()
        self._timer: asyncio.TimerHandle | None = None
        self._start_ns = 0
        self._tokens = 0
        self._steps = 0

    @property
    def waiting(self) -> int:
        """Requests queued for the next batch now."""
        return sum(1 for future in self._waiters if not future.done())

    async def enter(self, exchange: Exchange) -> int | None:
        """Wait for a place in a batch; the time waited in ns, or None when the client disconnected."""
        return await wait_in_queue(self, self._waiters, exchange, on_queued=self._maybe_start)

    def leave(self, tokens: int = 0) -> None:
        """A member has finished after making `tokens` tokens (0: it left before it was served); the
        batch ends with its last member, and the next one may start."""
        self.running -= 1
        self._tokens += tokens
        self._steps = max(self._steps, tokens)
        if self.running == 0:
            self._record()
            self.members = 0
            self._maybe_start()

    def after(self, batch_id: int) -> dict[str, Any]:
        """`GET /batches?after=ID`: the batch size, how many batches started, and the records of
        those above `batch_id`."""
        return {
            "max_batch_size": self.size,
            "batches_started": self.batches,
            "batches": [r for r in self.records if r["batch_id"] > batch_id],
        }

    def _record(self) -> None:
        duration_s = (time.perf_counter_ns() - self._start_ns) / 1e9
        # The sim does not time its steps one by one: each is the batch's time over its steps.
        step_s = duration_s / self._steps if self._steps else None
        self.records.append(
            {
                "batch_id": self.batches,
                "rows": self.members,
                "fill": self.members / self.size,
                "padding_fraction": 0.0,
                "steps": self._steps,
                "tokens": self._tokens,
                "duration_s": duration_s,
                "decode_step_s_median": step_s,
                "decode_step_s_max": step_s,
                "failed": None,
            }
        )

    def _maybe_start(self) -> None:
        if self.members:
            return
        while self._waiters and self._waiters[0].done():
            self._waiters.popleft()
        if not self._waiters:
            return
        if self.waiting >= self.size or self.wait_s == 0:
            self._start()
        elif self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self.wait_s, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        if not self.members:
            self._start()

    def _start(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        taken = 0
        while self._waiters and taken < self.size:
            future = self._waiters.popleft()
            if not future.done():
                future.set_result(True)
                taken += 1
        if taken:
            self.members = self.running = taken
            self.batches += 1
            self._start_ns = time.perf_counter_ns()
            self._tokens = self._steps = 0
