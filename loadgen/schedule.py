"""Arrival schedules for open-loop load: constant, Poisson or gamma inter-arrival gaps, seeded.

A schedule is a pure function of (rate, arrival, burstiness, seed): the same arguments give the same
send times on every run and every target, so one schedule can be replayed against another server.
Gamma gaps use shape = burstiness and mean 1/rate, as `vllm bench serve` does (burstiness 1 is
Poisson; lower is burstier, higher is steadier).
"""

from __future__ import annotations

import random
from collections.abc import Iterator

from loadgen.errors import ConfigError
from loadgen.run_config import Arrival

NS_PER_S = 1_000_000_000


def arrival_offsets_ns(
    rate: float, arrival: Arrival, burstiness: float = 1.0, seed: int = 0
) -> Iterator[int]:
    """Send times in ns from the start of the schedule, endless; the first request goes at 0."""
    if not rate > 0:
        raise ConfigError("the arrival rate must be above 0")
    rng = random.Random(seed)
    mean_gap = 1.0 / rate
    t = 0.0
    while True:
        yield round(t * NS_PER_S)
        if arrival == "constant":
            t += mean_gap
        elif arrival == "poisson":
            t += rng.expovariate(rate)
        elif arrival == "gamma":
            t += rng.gammavariate(burstiness, mean_gap / burstiness)
        else:
            raise ConfigError(f"unknown arrival process {arrival!r}")


def gap_shape(arrival: Arrival, burstiness: float = 1.0) -> float | None:
    """The gamma shape of a schedule's gaps (1 for Poisson, `burstiness` for gamma); None for
    constant gaps, which do not vary."""
    if arrival == "constant":
        return None
    return burstiness if arrival == "gamma" else 1.0


def schedule_ns(
    count: int, rate: float, arrival: Arrival, burstiness: float = 1.0, seed: int = 0
) -> list[int]:
    """The first `count` send times (ns offsets) of a schedule."""
    offsets = arrival_offsets_ns(rate, arrival, burstiness, seed)
    return [next(offsets) for _ in range(count)]
