"""The generator watching itself: event-loop lag, process CPU, in-flight and schedule lag.

`LoopLagSampler` arms one timer every `interval_s` (20 ms) and records how late it fired: no busy
polling, so an idle run costs nothing. `judge` turns the figures into a verdict: when the generator
could not keep up (event loop late, a core saturated, fewer requests in flight than asked, an
open-loop schedule sent late, or its thread kept waiting for a core that other processes held) the
summary says "client-bound" with the figures, instead of passing the client's own delay off as the
server's latency.
"""

from __future__ import annotations

import asyncio
import resource
from array import array
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from time import perf_counter_ns
from typing import Any

import numpy as np

from loadgen import errors
from loadgen.record import RequestRecord

NS_PER_MS = 1_000_000

LAG_LIMIT_MS = 5.0
"""Event-loop lag (p99) above which the client's own stamps may be late."""
CPU_LIMIT = 0.90
"""Share of one core above which the (single-threaded) generator is saturated."""
IN_FLIGHT_LIMIT = 0.95
"""Closed loop: achieved / target in-flight below this means the client could not keep the level."""
SCHEDULE_LAG_LIMIT_MS = 5.0
"""Open loop: p99 lateness of sends against the schedule (before any concurrency cap) above this."""


CPU_WAIT_LIMIT = 0.10
"""Share of the window the event-loop thread spent runnable but waiting for a core (neighbours)."""


def process_cpu_s() -> float:
    """User + system CPU seconds used by this process so far."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def cpu_wait_s() -> float | None:
    """Seconds this thread has spent runnable but not running (Linux schedstat), or None elsewhere.

    Time the event loop waited for a core that other processes held: its stamps were late by it.
    """
    try:
        with open("/proc/thread-self/schedstat") as file:
            return int(file.read().split()[1]) / 1e9
    except (OSError, ValueError, IndexError):
        return None


class LoopLagSampler:
    """Measures event-loop lag with one re-armed timer; also feeds an optional live gauge."""

    def __init__(self, interval_s: float = 0.02, on_sample: Callable[[float], None] | None = None) -> None:
        self._interval_ns = int(interval_s * 1e9)
        self._interval_s = interval_s
        self._on_sample = on_sample
        self.lags_ns = array("q")
        self._handle: asyncio.TimerHandle | None = None
        self._expected = 0

    def start(self) -> None:
        """Start sampling on the running loop."""
        self._expected = perf_counter_ns() + self._interval_ns
        self._handle = asyncio.get_running_loop().call_later(self._interval_s, self._tick)

    def _tick(self) -> None:
        now = perf_counter_ns()
        lag = max(0, now - self._expected)
        self.lags_ns.append(lag)
        if self._on_sample is not None:
            self._on_sample(lag / 1e9)
        self._expected = now + self._interval_ns
        self._handle = asyncio.get_running_loop().call_later(self._interval_s, self._tick)

    def stop(self) -> None:
        """Stop sampling."""
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None


@dataclass
class SelfCheckReport:
    """The generator's own figures over a level's measured window, and the verdict."""

    wall_s: float
    cpu_s: float
    cpu_share_of_core: float
    cpu_ms_per_request: float | None
    loop_lag_mean_ms: float | None
    loop_lag_p99_ms: float | None
    loop_lag_max_ms: float | None
    target_in_flight: float | None
    achieved_in_flight: float | None
    schedule_lag_p99_ms: float | None
    schedule_lag_max_ms: float | None
    cpu_wait_s: float | None = None
    """Time the event-loop thread was runnable but had no core (other processes on it)."""
    client_bound: bool = False
    reasons: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    """Figures that look like a client limit but are not the client's doing (failing requests)."""

    def to_dict(self) -> dict[str, Any]:
        """As a plain dict for the summary JSON."""
        return asdict(self)


def steady_in_flight(
    records: Sequence[RequestRecord],
    window_of: Sequence[RequestRecord] | None = None,
    ramp: int = 0,
) -> float | None:
    """Time-weighted mean requests in flight over a level's steady window, or None if it has none.

    The window ends at the last send of `window_of` (default: `records`); every request of `records`
    in flight then counts, so warm-up requests still running when the measured window opens fill
    their slots. The tail after the last send (the level draining) is left out, so a closed loop that
    kept its level reads as exactly its concurrency. The window opens at the first send of
    `window_of`, or at the `ramp`-th send of `records` if later: a closed loop's first wave goes out
    one send at a time, and a mean over that ramp reads half the level whatever the client did. A
    level whose every request went out in the first wave (all at once) has no steady window: None.
    """
    spans = [(r.send_ns, r.end_ns) for r in records if r.end_ns is not None]
    sends = [r.send_ns for r in (window_of if window_of is not None else records) if r.end_ns is not None]
    if len(sends) < 2:
        return None
    start, stop = min(sends), max(sends)
    if ramp > 1:
        every_send = sorted(send for send, _ in spans)
        if len(every_send) <= ramp:
            return None
        start = max(start, every_send[ramp - 1])
    if stop <= start:
        return None
    area = sum(
        max(0, min(end, stop) - max(send, start)) for send, end in spans if send < stop and end > start
    )
    return area / (stop - start)


def judge(
    *,
    wall_s: float,
    cpu_s: float,
    lags_ns: Sequence[int],
    records: Sequence[RequestRecord],
    target_in_flight: float | None,
    schedule_lags_ns: Sequence[int],
    waited_s: float | None = None,
) -> SelfCheckReport:
    """Build the report for one level and decide whether the client was the bottleneck."""
    measured = [r for r in records if not r.warmup]
    lags = np.asarray(lags_ns, dtype=np.float64) / NS_PER_MS
    sched = np.asarray(schedule_lags_ns, dtype=np.float64) / NS_PER_MS
    ramp = int(target_in_flight) if target_in_flight else 0
    achieved = steady_in_flight(records, window_of=measured, ramp=ramp)
    report = SelfCheckReport(
        wall_s=wall_s,
        cpu_s=cpu_s,
        cpu_share_of_core=cpu_s / wall_s if wall_s > 0 else 0.0,
        cpu_ms_per_request=1000 * cpu_s / len(records) if records else None,
        loop_lag_mean_ms=float(lags.mean()) if lags.size else None,
        loop_lag_p99_ms=float(np.percentile(lags, 99)) if lags.size else None,
        loop_lag_max_ms=float(lags.max()) if lags.size else None,
        target_in_flight=target_in_flight,
        achieved_in_flight=achieved,
        schedule_lag_p99_ms=float(np.percentile(sched, 99)) if sched.size else None,
        schedule_lag_max_ms=float(sched.max()) if sched.size else None,
        cpu_wait_s=waited_s,
    )
    if report.loop_lag_p99_ms is not None and report.loop_lag_p99_ms > LAG_LIMIT_MS:
        report.reasons.append(
            f"event-loop lag p99 {report.loop_lag_p99_ms:.1f} ms (limit {LAG_LIMIT_MS:g} ms)"
        )
    if report.cpu_share_of_core > CPU_LIMIT and wall_s >= 1.0:
        report.reasons.append(f"generator used {100 * report.cpu_share_of_core:.0f}% of a core")
    if target_in_flight and achieved is not None and achieved < IN_FLIGHT_LIMIT * target_in_flight:
        shortfall = f"only {achieved:.1f} of {target_in_flight:g} requests in flight on average"
        failing = sum(1 for r in measured if not r.ok and r.error_class != errors.CANCELLED)
        if failing:
            # A failing request (refused, cut, 5xx) ends at once and its slot idles between the error
            # and the next send: the shortfall comes from the server side, not from a slow client.
            report.notes.append(f"{shortfall}: {failing} requests failed, not a client limit")
        else:
            report.reasons.append(shortfall)
    if report.schedule_lag_p99_ms is not None and report.schedule_lag_p99_ms > SCHEDULE_LAG_LIMIT_MS:
        report.reasons.append(
            f"sends p99 {report.schedule_lag_p99_ms:.1f} ms behind schedule "
            f"(limit {SCHEDULE_LAG_LIMIT_MS:g} ms)"
        )
    if waited_s is not None and wall_s >= 1.0 and waited_s > CPU_WAIT_LIMIT * wall_s:
        report.reasons.append(
            f"the generator waited {waited_s:.2f} s of {wall_s:.2f} s for a core held by other processes"
        )
    report.client_bound = bool(report.reasons)
    return report
