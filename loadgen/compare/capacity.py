"""Capacity at SLO: the highest request rate a server sustains with goodput >= 90%, by a bounded search.

A probe is one short open-loop level at a rate; it passes when at least `threshold` (90%) of its
measured requests succeeded and met every SLO. The search assumes that share falls as the rate
rises (a server that passes at r passes below r), and runs in three phases:

1. grow: from `start_rate`, double the rate while probes pass, up to `max_rate`;
2. shrink (only when the first probe fails): halve it until one passes (down to `max_rate / 2**20`);
3. bisect between the highest passing and the lowest failing rate until they are within
   `tolerance` (relative to the passing rate).

It never runs more than `max_steps` probes; the answer is the highest passing rate, so it is a
lower bound on the true capacity, within `tolerance` when the search converged. A failing probe the
load generator could not keep up with (client-bound) still counts as a failure, since lower rates ask
less of the generator too, but the result names it: the upper bound may be the generator's.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

GOODPUT_TARGET = 0.9
"""Share of a probe's requests that must meet every SLO for the rate to count as sustained."""
DEFAULT_TOLERANCE = 0.05

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

    @property
    def goodput_share(self) -> float:
        """Share of the measured requests that succeeded within every SLO."""
        return self.met_slo / self.requests if self.requests else 0.0

    def passed(self, threshold: float = GOODPUT_TARGET) -> bool:
        """True when the share reaches `threshold`."""
        return self.requests > 0 and self.goodput_share >= threshold - 1e-12

    def to_dict(self) -> dict[str, Any]:
        """As a plain dict for `capacity.json`."""
        return {**asdict(self), "goodput_share": self.goodput_share}


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
    def client_bound_failures(self) -> list[float]:
        """Rates whose probe failed while the load generator was the bottleneck."""
        return [p.rate for p in self.probes if p.client_bound and not p.passed()]

    def to_dict(self) -> dict[str, Any]:
        """As a plain dict for `capacity.json`."""
        out = asdict(self)
        out["probes"] = [p.to_dict() for p in self.probes]
        out["client_bound_failures"] = self.client_bound_failures
        return out


Probe = Callable[[float], Awaitable[ProbeResult]]


async def search_capacity(
    target: str,
    probe: Probe,
    *,
    start_rate: float,
    max_rate: float,
    max_steps: int,
    threshold: float = GOODPUT_TARGET,
    tolerance: float = DEFAULT_TOLERANCE,
    should_stop: Callable[[], bool] = lambda: False,
) -> CapacityResult:
    """Find the highest rate in (0, max_rate] at which `probe` passes, in at most `max_steps` probes."""
    if not 0 < start_rate or not 0 < max_rate or max_steps < 1 or not 0 < tolerance:
        raise ValueError("start_rate, max_rate and tolerance must be above 0, max_steps at least 1")
    floor = max_rate / 2**20
    low: float | None = None  # highest passing rate
    high: float | None = None  # lowest failing rate
    probes: list[ProbeResult] = []
    rate = min(start_rate, max_rate)
    stopped: Stop = "steps"
    while len(probes) < max_steps:
        if should_stop():
            stopped = "interrupted"
            break
        result = await probe(rate)
        probes.append(result)
        if result.passed(threshold):
            low = rate if low is None else max(low, rate)
        else:
            high = rate if high is None else min(high, rate)
        if high is None:  # grow
            if rate >= max_rate:
                stopped = "max-rate"
                break
            rate = min(2 * rate, max_rate)
        elif low is None:  # shrink
            rate /= 2
            if rate < floor:
                stopped = "below-range"
                break
        else:  # bisect
            if high - low <= tolerance * low:
                stopped = "converged"
                break
            rate = (low + high) / 2
    return CapacityResult(target, low, high, stopped, probes)
