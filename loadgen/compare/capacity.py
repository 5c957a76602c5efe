"""Capacity at SLO: the highest request rate a server sustains with goodput >= 90%, by a bounded search.

A probe is one short open-loop level at a rate; it passes when at least `threshold` (90%) of its
measured requests succeeded and met every SLO. The search assumes that share falls as the rate
rises (a server that passes at r passes below r), and runs in three phases:

1. grow: from `start_rate`, double the rate while probes pass, up to `max_rate`;
2. shrink (only when the first probe fails): halve it until one passes, down to `min_rate`
   (default `max_rate / 2**20`); a server that fails there too is "below-range", its capacity below
   the lowest rate tried;
3. bisect between the highest passing and the lowest failing rate until they are within
   `tolerance` (relative to the passing rate).

A probe may end as soon as its verdict is certain: once so many of its planned requests missed an
SLO that the rest could not lift it to `threshold` (`failure_settled`), it has failed, and waiting for
the rest would only cost time. Static batching makes this matter: a request arriving while a batch
runs waits for the whole batch, so a probe above such a server's capacity fails within a batch or
two, where finishing it would take minutes.

It runs at most `max_steps` probes (a burst and its re-run count as two; a re-run always runs, so it
may be one more); the answer is the highest passing rate, so it is a lower bound on the true
capacity, within `tolerance` when the search converged.

A pass means something only if the probe lasted: a server takes a burst of arrivals that it could
not keep up with for long (its batch and KV cache absorb them), so a probe whose arrivals span less
than `SUSTAINED_SPANS` times its median end-to-end latency is a *burst* (`ProbeResult.burst`). The
driver runs such a probe again at the same rate, long enough (`sustained_count`), and the capacity
that counts is the highest rate that passed without being a burst (`CapacityResult.sustained_rps`).

A probe cut short by the run's stop (Ctrl-C, SIGTERM from `timeout`) before its verdict was certain is
*interrupted* (`ProbeResult.interrupted`): it neither passes nor fails, and the search ends there, so
a stopped run never reports a failing rate it did not measure.

A failing probe the load generator could not keep up with (client-bound) still counts as a failure,
since lower rates ask less of the generator too, but the result names it: the upper bound may be the
generator's.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from loadgen import errors
from loadgen.record import RequestRecord
from loadgen.stats import SLO

GOODPUT_TARGET = 0.9
"""Share of a probe's requests that must meet every SLO for the rate to count as sustained."""
DEFAULT_TOLERANCE = 0.05
SUSTAINED_SPANS = 3.0
"""A probe's arrivals must span this many median end-to-end latencies for its pass to show a rate the
server sustains: after one latency the requests in flight reach their steady number (Little's law),
so two thirds of such a probe's requests meet the server in its steady state."""

Stop = Literal["converged", "max-rate", "steps", "below-range", "interrupted"]


@dataclass(frozen=True)
class ProbeResult:
    """One probe: its rate, how many measured requests it sent and how many met every SLO."""

    rate: float
    requests: int
    met_slo: int
    client_bound: bool = False
    achieved_rate: float | None = None
    """Successful requests per second of the measured window."""
    ended_early: bool = False
    """The probe stopped once its failure was certain; `requests` counts the planned ones."""
    window_s: float | None = None
    """Span of the measured requests' scheduled arrivals."""
    e2e_p50_s: float | None = None
    """Median end-to-end latency of the measured requests that succeeded."""
    interrupted: bool = False
    """The run was stopped during the probe before its failure was certain: its requests in flight
    were cancelled and the rest not sent, so it has no verdict (it neither passes nor fails);
    `requests` counts the planned ones."""

    @property
    def burst(self) -> bool:
        """True when the arrivals spanned less than `SUSTAINED_SPANS` median latencies (`is_burst`)."""
        return is_burst(self.window_s, self.e2e_p50_s)

    @property
    def goodput_share(self) -> float:
        """Share of the measured requests that succeeded within every SLO."""
        return self.met_slo / self.requests if self.requests else 0.0

    def passed(self, threshold: float = GOODPUT_TARGET) -> bool:
        """True when the share reaches `threshold` (never for an interrupted probe)."""
        return not self.interrupted and self.requests > 0 and self.goodput_share >= threshold - 1e-12

    def failed(self, threshold: float = GOODPUT_TARGET) -> bool:
        """True when the probe ran to a verdict and the share fell below `threshold`."""
        return not self.interrupted and not self.passed(threshold)

    def to_dict(self) -> dict[str, Any]:
        """As a plain dict for `capacity.json`."""
        return {**asdict(self), "goodput_share": self.goodput_share, "burst": self.burst}


def sustained_count(rate: float, e2e_p50_s: float, gap_shape: float | None = None) -> int:
    """Arrivals at `rate` that span `SUSTAINED_SPANS` median latencies (n arrivals span n - 1 gaps).

    With random gaps (`gap_shape`: the gamma shape of the gaps, 1 for Poisson arrivals; None for
    constant ones) the span of m gaps has mean m / rate and standard deviation sqrt(m / shape) / rate,
    so m is raised until the mean clears the target by two deviations: a probe sized for the mean alone
    falls short, and is again a burst, about half the time."""
    target = SUSTAINED_SPANS * e2e_p50_s * rate
    if gap_shape is None:
        return math.ceil(target) + 1
    # m - 2 sqrt(m / shape) >= target, solved for sqrt(m)
    root = 1 / math.sqrt(gap_shape) + math.sqrt(1 / gap_shape + target)
    return math.ceil(root * root) + 1


@dataclass
class CapacityResult:
    """The search's answer for one server."""

    target: str
    capacity_rps: float | None
    """Highest rate that passed (None: none did)."""
    lowest_failing_rps: float | None
    stopped: Stop
    probes: list[ProbeResult] = field(default_factory=list)

    @property
    def sustained_rps(self) -> float | None:
        """The highest rate that passed on a probe long enough to show a sustained rate (not a burst)."""
        return counted_rates(self.probes)[0]

    @property
    def client_bound_failures(self) -> list[float]:
        """Rates whose probe failed while the load generator was the bottleneck."""
        return [p.rate for p in self.probes if p.client_bound and p.failed()]

    def to_dict(self) -> dict[str, Any]:
        """As a plain dict for `capacity.json`."""
        out = asdict(self)
        out["probes"] = [p.to_dict() for p in self.probes]
        out["client_bound_failures"] = self.client_bound_failures
        out["sustained_rps"] = self.sustained_rps
        return out


Probe = Callable[[float], Awaitable[ProbeResult]]


def counted_rates(
    probes: Sequence[ProbeResult], threshold: float = GOODPUT_TARGET
) -> tuple[float | None, tuple[float, ...]]:
    """The capacity the probes show, the highest rate that passed on a probe that was not a burst
    (None: none did), and the rates that passed only as bursts (ascending)."""
    passes = [p for p in probes if p.passed(threshold)]
    sustained = {p.rate for p in passes if not p.burst}
    bursts = tuple(sorted({p.rate for p in passes if p.burst} - sustained))
    return (max(sustained) if sustained else None), bursts


def is_burst(window_s: float | None, e2e_p50_s: float | None) -> bool:
    """True when a probe's arrivals spanned less than `SUSTAINED_SPANS` median end-to-end latencies: a
    pass then shows only that the server absorbed a burst, not that it sustains the rate. False where
    either is unknown."""
    if window_s is None or e2e_p50_s is None:
        return False
    return window_s < SUSTAINED_SPANS * e2e_p50_s


def probe_shape(measured: Sequence[RequestRecord]) -> tuple[float | None, float | None]:
    """A probe's arrival span (first to last scheduled start, s) and the median end-to-end latency
    (s) of its requests that succeeded; None where there are too few."""
    starts = [r.start_ns for r in measured]
    window = (max(starts) - min(starts)) / 1e9 if len(starts) > 1 else None
    latencies = sorted(r.e2e_ns for r in measured if r.ok and r.e2e_ns is not None)
    return window, (statistics.median(latencies) / 1e9 if latencies else None)


def missed_slo(record: RequestRecord, slo: SLO) -> bool:
    """True when a probe's request counts against it: it failed or finished outside `slo`. A
    cancelled one does not count (the probe or the run was stopped): it says nothing of the server."""
    return record.error_class != errors.CANCELLED and not slo.met_by(record)


def failure_settled(planned: int, missed: int, threshold: float = GOODPUT_TARGET) -> bool:
    """True when `missed` of a probe's `planned` requests already keep it below `threshold`, whatever
    the others do."""
    return planned > 0 and (planned - missed) / planned < threshold - 1e-12


class CapacitySearch:
    """The search as a state machine: ask `next_rate()`, probe it, `record()` the result; repeat until
    `next_rate()` is None. (So a driver can alternate the probes of several servers.)"""

    def __init__(
        self,
        target: str,
        *,
        start_rate: float,
        max_rate: float,
        max_steps: int,
        threshold: float = GOODPUT_TARGET,
        tolerance: float = DEFAULT_TOLERANCE,
        min_rate: float | None = None,
    ) -> None:
        if not 0 < start_rate or not 0 < max_rate or max_steps < 1 or not 0 < tolerance:
            raise ValueError("start_rate, max_rate and tolerance must be above 0, max_steps at least 1")
        self.min_rate = max_rate / 2**20 if min_rate is None else min_rate
        if not 0 < self.min_rate <= max_rate:
            raise ValueError("min_rate must be above 0 and at most max_rate")
        self.target, self.max_rate, self.max_steps = target, max_rate, max_steps
        self.threshold, self.tolerance = threshold, tolerance
        self.low: float | None = None
        """Highest passing rate."""
        self.high: float | None = None
        """Lowest failing rate."""
        self.probes: list[ProbeResult] = []
        self._rate: float | None = min(max(start_rate, self.min_rate), max_rate)
        self.stopped: Stop = "steps"

    def next_rate(self) -> float | None:
        """The rate to probe next (None: the search is over)."""
        return self._rate if len(self.probes) < self.max_steps else None

    def stop(self) -> None:
        """End the search early (interrupted)."""
        if self._rate is not None and len(self.probes) < self.max_steps:
            self.stopped = "interrupted"
        self._rate = None

    def note(self, result: ProbeResult) -> None:
        """Keep a probe that does not count (a burst run again longer) without moving the search."""
        self.probes.append(result)

    def record(self, result: ProbeResult) -> None:
        """Take a probe's result and choose the next rate; an interrupted probe ends the search without
        moving its bounds."""
        rate = result.rate
        self.probes.append(result)
        if result.interrupted:
            self._rate, self.stopped = None, "interrupted"
            return
        if result.passed(self.threshold):
            self.low = rate if self.low is None else max(self.low, rate)
        else:
            self.high = rate if self.high is None else min(self.high, rate)
        if self.high is None:  # grow
            self._rate = None if rate >= self.max_rate else min(2 * rate, self.max_rate)
            self.stopped = "max-rate" if self._rate is None else self.stopped
        elif self.low is None:  # shrink
            if rate <= self.min_rate:
                self._rate = None
            else:
                self._rate = max(rate / 2, self.min_rate)
            self.stopped = "below-range" if self._rate is None else self.stopped
        elif self.high - self.low <= self.tolerance * self.low:  # bisect until close enough
            self._rate, self.stopped = None, "converged"
        else:
            self._rate = (self.low + self.high) / 2

    def result(self) -> CapacityResult:
        """The answer so far."""
        return CapacityResult(self.target, self.low, self.high, self.stopped, list(self.probes))


async def search_capacity(
    target: str,
    probe: Probe,
    *,
    start_rate: float,
    max_rate: float,
    max_steps: int,
    threshold: float = GOODPUT_TARGET,
    tolerance: float = DEFAULT_TOLERANCE,
    min_rate: float | None = None,
    should_stop: Callable[[], bool] = lambda: False,
) -> CapacityResult:
    """Find the highest rate in [min_rate, max_rate] at which `probe` passes, in at most `max_steps`
    probes."""
    search = CapacitySearch(
        target,
        start_rate=start_rate,
        max_rate=max_rate,
        max_steps=max_steps,
        threshold=threshold,
        tolerance=tolerance,
        min_rate=min_rate,
    )
    while (rate := search.next_rate()) is not None:
        if should_stop():
            search.stop()
            break
        search.record(await probe(rate))
    return search.result()
