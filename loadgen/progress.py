"""A cheap progress line on stderr: redrawn by a timer twice a second, never per request."""

from __future__ import annotations

import asyncio
import sys
from time import perf_counter_ns
from typing import TextIO


class Progress:
    """Counts requests of one level and redraws one status line on a TTY."""

    def __init__(
        self, *, enabled: bool = True, stream: TextIO | None = None, interval_s: float = 0.5
    ) -> None:
        self._stream = stream if stream is not None else sys.stderr
        self.enabled = enabled and self._stream.isatty()
        self._interval_s = interval_s
        self._handle: asyncio.TimerHandle | None = None
        self.label = ""
        self.total: int | None = None
        self.duration_s: float | None = None
        self.done = 0
        self.failed = 0
        self.in_flight = 0
        self._start_ns = 0

    def start_level(self, label: str, total: int | None, duration_s: float | None) -> None:
        """Reset the counters for a new level and start redrawing."""
        self.label, self.total, self.duration_s = label, total, duration_s
        self.done = self.failed = self.in_flight = 0
        self._start_ns = perf_counter_ns()
        if self.enabled:
            self._handle = asyncio.get_running_loop().call_later(self._interval_s, self._tick)

    def request_done(self, ok: bool) -> None:
        """Count a finished request."""
        self.done += 1
        if not ok:
            self.failed += 1

    def _tick(self) -> None:
        self._draw()
        self._handle = asyncio.get_running_loop().call_later(self._interval_s, self._tick)

    def _draw(self, end: str = "") -> None:
        elapsed = (perf_counter_ns() - self._start_ns) / 1e9
        if self.total:
            frac = min(1.0, self.done / self.total)
        elif self.duration_s:
            frac = min(1.0, elapsed / self.duration_s)
        else:
            frac = 0.0
        bar = "#" * int(frac * 24)
        total = f"/{self.total}" if self.total else ""
        rate = self.done / elapsed if elapsed > 0 else 0.0
        self._stream.write(
            f"\r{self.label:<18} [{bar:<24}] {self.done}{total} done, {self.failed} failed, "
            f"{self.in_flight} in flight, {rate:.1f} req/s, {elapsed:.1f} s{end}"
        )
        self._stream.flush()

    def end_level(self) -> None:
        """Stop redrawing and leave the final line."""
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        if self.enabled:
            self._draw(end="\n")
