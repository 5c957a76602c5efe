"""Wake coroutines at absolute `perf_counter_ns` deadlines, with sub-millisecond precision.

asyncio and uvloop both round timer delays to whole milliseconds (uvloop to the nearest one, so a
timer may even fire early). On Linux this module keeps one heap of deadlines for the whole server
and arms a single `timerfd` (CLOCK_MONOTONIC, the clock `perf_counter_ns` reads) at the earliest
one, so each wait ends within tens of microseconds of its deadline and all streams due together
wake together. Elsewhere it falls back to `loop.call_later`, rounded up so no wait ends early.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import heapq
import logging
import math
import os
import sys
from collections.abc import Callable
from functools import partial
from time import perf_counter_ns

log = logging.getLogger("servers.sim")

_CLOCK_MONOTONIC = 1
_TFD_NONBLOCK = 0o4000
_TFD_CLOEXEC = 0o2000000
_TFD_TIMER_ABSTIME = 1


class _Timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


class _Itimerspec(ctypes.Structure):
    _fields_ = [("it_interval", _Timespec), ("it_value", _Timespec)]


class _TimerFd:
    """A non-blocking CLOCK_MONOTONIC timerfd driven through libc."""

    def __init__(self) -> None:
        libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        self._settime = libc.timerfd_settime
        self._settime.argtypes = [
            ctypes.c_int,
            ctypes.c_int,
            ctypes.POINTER(_Itimerspec),
            ctypes.POINTER(_Itimerspec),
        ]
        fd = libc.timerfd_create(_CLOCK_MONOTONIC, _TFD_NONBLOCK | _TFD_CLOEXEC)
        if fd < 0:
            raise OSError(ctypes.get_errno(), "timerfd_create failed")
        self.fd: int = fd
        self._spec = _Itimerspec()

    def arm(self, deadline_ns: int) -> None:
        """Fire once at the absolute monotonic time `deadline_ns` (>0)."""
        value = self._spec.it_value
        value.tv_sec, value.tv_nsec = divmod(max(deadline_ns, 1), 1_000_000_000)
        if self._settime(self.fd, _TFD_TIMER_ABSTIME, ctypes.byref(self._spec), None) != 0:
            raise OSError(ctypes.get_errno(), "timerfd_settime failed")

    def consume(self) -> None:
        """Clear the expiration count so the fd stops being readable."""
        try:
            os.read(self.fd, 8)
        except BlockingIOError:
            pass

    def close(self) -> None:
        """Release the fd."""
        os.close(self.fd)


class DeadlineTimer:
    """Runs callbacks (`call_at`) or completes futures (`wait`) at, never before, a deadline."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._heap: list[tuple[int, int, Callable[[], None]]] = []
        self._seq = 0
        self._armed_ns = 0
        self._fd: _TimerFd | None = None
        if sys.platform.startswith("linux"):
            try:
                self._fd = _TimerFd()
            except (OSError, AttributeError):
                self._fd = None
        if self._fd is not None:
            loop.add_reader(self._fd.fd, self._fire)

    @property
    def precise(self) -> bool:
        """True when waits use the timerfd (sub-millisecond), False on the millisecond fallback."""
        return self._fd is not None

    def wait(self, deadline_ns: int) -> asyncio.Future[None]:
        """A future that completes at `deadline_ns` (callers may complete it earlier themselves)."""
        future: asyncio.Future[None] = self._loop.create_future()
        self.call_at(deadline_ns, partial(_resolve, future))
        return future

    def call_at(self, deadline_ns: int, callback: Callable[[], None]) -> None:
        """Call `callback()` from the event loop at `deadline_ns`, never before."""
        if self._fd is None:
            self._call_later(deadline_ns, callback)
            return
        self._seq += 1
        heapq.heappush(self._heap, (deadline_ns, self._seq, callback))
        if self._armed_ns == 0 or deadline_ns < self._armed_ns:
            self._armed_ns = deadline_ns
            self._fd.arm(deadline_ns)

    def _call_later(self, deadline_ns: int, callback: Callable[[], None]) -> None:
        remaining = deadline_ns - perf_counter_ns()
        if remaining <= 0:
            self._loop.call_soon(callback)
            return
        delay_s = math.ceil(remaining / 1e6) / 1e3
        self._loop.call_later(delay_s, self._call_later, deadline_ns, callback)

    def _fire(self) -> None:
        assert self._fd is not None
        self._fd.consume()
        heap = self._heap
        now = perf_counter_ns()
        while heap:
            if heap[0][0] > now:
                now = perf_counter_ns()  # callbacks take time: take what fell due meanwhile too
                if heap[0][0] > now:
                    break
            callback = heapq.heappop(heap)[2]
            try:
                callback()
            except Exception:
                log.exception("timer callback failed")
        if heap:
            self._armed_ns = heap[0][0]
            self._fd.arm(self._armed_ns)
        else:
            self._armed_ns = 0

    def close(self) -> None:
        """Stop watching the timerfd."""
        if self._fd is not None:
            self._loop.remove_reader(self._fd.fd)
            self._fd.close()
            self._fd = None


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
