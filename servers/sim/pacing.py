"""How long each step of a generation takes: TTFT and inter-token delays, with jitter and slowdown.

Each delay is the configured base, scaled by `1 + slowdown * (running - 1)` (running = requests
being generated now, so a lone request gets the base delay, as a batching server would), plus a
jitter sample: `uniform` in [-j, +j], `normal` with standard deviation j, `exponential` with mean j
(always late). Delays never go below zero. The generator is seeded, so a run can be replayed.
"""

from __future__ import annotations

import random

from servers.sim.config import SimConfig


class Pacer:
    """Draws TTFT and inter-token delays in nanoseconds."""

    def __init__(self, config: SimConfig) -> None:
        self._ttft_ns = config.ttft_ms * 1e6
        self._itl_ns = config.itl_ms * 1e6
        self._slowdown = config.slowdown
        self._jitter = config.jitter if config.jitter_ms > 0 else "none"
        self._jitter_ns = config.jitter_ms * 1e6
        self._rng = random.Random(config.seed)

    def ttft_ns(self, running: int) -> int:
        """The time from admission to the first token."""
        return self._delay(self._ttft_ns, running)

    def itl_ns(self, running: int) -> int:
        """The time from one token to the next."""
        return self._delay(self._itl_ns, running)

    def _delay(self, base: float, running: int) -> int:
        if self._slowdown and running > 1:
            base *= 1.0 + self._slowdown * (running - 1)
        kind = self._jitter
        if kind == "none":
            return int(base)
        j = self._jitter_ns
        if kind == "uniform":
            base += self._rng.uniform(-j, j)
        elif kind == "normal":
            base += self._rng.gauss(0.0, j)
        else:
            base += self._rng.expovariate(1.0 / j)
        return max(int(base), 0)
