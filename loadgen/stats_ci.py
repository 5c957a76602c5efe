"""Bootstrap confidence intervals for per-server figures and speed-ups, and tail sample sufficiency.

The data of one server at one level is a list of repeats; a repeat is its successful requests, each
request a small array of values (one TTFT, or all its inter-token gaps) and, for rates, the
repeat's measured duration. The interval is a hierarchical percentile bootstrap:

1. draw R repeats with replacement (the same repeat numbers for both servers of a speed-up: repeat
   k of A and of B ran back to back, so pairing cancels the drift both saw);
2. within each drawn repeat, draw its requests with replacement (a request's values stay together:
   the gaps of one request are not independent);
3. compute the statistic on the pooled draw (a percentile of the pooled values, or tokens per second
   of pooled duration), and the ratio for a speed-up.

With one repeat, step 1 is the identity and this is the ordinary bootstrap over requests: it sees
request-to-request spread but not run-to-run drift, and a throughput (whose only noise is the run)
gets no interval. The 2.5th and 97.5th percentiles of `resamples` draws bound the 95% interval.
The generator is seeded from the caller's seed and a key, so a report rebuilds identically.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]

MIN_TAIL_SAMPLES = 20
"""A percentile is trusted when at least this many samples lie beyond it on its smaller side."""

DEFAULT_RESAMPLES = 1000


@dataclass
class Repeat:
    """One repeat of one server at one level: per request its values, and the measured duration."""

    requests: list[FloatArray]
    duration_s: float = 0.0
    _flat: FloatArray | None = field(default=None, repr=False)
    _owner: NDArray[np.int64] | None = field(default=None, repr=False)

    @classmethod
    def of(cls, requests: Sequence[Sequence[float]], duration_s: float = 0.0) -> Repeat:
        """Build from plain sequences (requests without values are dropped)."""
        arrays = [np.asarray(r, dtype=np.float64) for r in requests if len(r)]
        return cls(arrays, duration_s)

    def flat(self) -> tuple[FloatArray, NDArray[np.int64]]:
        """Every value, and the request each belongs to."""
        if self._flat is None or self._owner is None:
            sizes = [len(r) for r in self.requests]
            self._flat = np.concatenate(self.requests) if self.requests else np.zeros(0)
            self._owner = np.repeat(np.arange(len(self.requests)), sizes).astype(np.int64)
        return self._flat, self._owner


Statistic = Callable[[FloatArray, float], float]
"""A figure of pooled values and pooled duration (seconds)."""


def percentile_of(q: float) -> Statistic:
    """The q-th percentile (0..100, linear interpolation as numpy and the run summary) of the values."""

    def stat(values: FloatArray, _duration_s: float) -> float:
        return float(np.percentile(values, q)) if values.size else math.nan

    return stat


def rate(values: FloatArray, duration_s: float) -> float:
    """Sum of the values per second of duration (tokens/s when the values are output tokens)."""
    return float(values.sum() / duration_s) if duration_s > 0 else math.nan


@dataclass(frozen=True)
class Interval:
    """A point estimate and its 95% (or other) bootstrap interval; low/high None when none exists."""

    estimate: float | None
    low: float | None
    high: float | None
    method: str

    @property
    def has_interval(self) -> bool:
        """True when both bounds are known."""
        return self.low is not None and self.high is not None


def method_name(repeats: int) -> str:
    """How the interval was computed, as the report says it next to each interval."""
    if repeats <= 1:
        return "bootstrap over requests (1 repeat)"
    return f"hierarchical bootstrap over {repeats} repeats, then requests"


def seed_for(seed: int, key: str) -> int:
    """A reproducible generator seed for one interval: the run's seed and a stable hash of `key`."""
    return (seed * 1_000_003 + zlib.crc32(key.encode())) % 2**32


def pooled(repeats: Sequence[Repeat], stat: Statistic) -> float | None:
    """The statistic over every request of every repeat (the point estimate)."""
    values = [r.flat()[0] for r in repeats]
    flat = np.concatenate(values) if values else np.zeros(0)
    result = stat(flat, sum(r.duration_s for r in repeats))
    return None if not math.isfinite(result) else result


def _draw(
    repeats: Sequence[Repeat], picks: NDArray[np.int64], rng: np.random.Generator
) -> tuple[FloatArray, float]:
    """Values and duration of one resample: repeats `picks`, requests drawn within each."""
    parts: list[FloatArray] = []
    duration = 0.0
    for pick in picks:
        repeat = repeats[int(pick)]
        values, owner = repeat.flat()
        n = len(repeat.requests)
        duration += repeat.duration_s
        if n == 0:
            continue
        counts = np.bincount(rng.integers(0, n, size=n), minlength=n)
        parts.append(np.repeat(values, counts[owner]))
    return (np.concatenate(parts) if parts else np.zeros(0)), duration


def _bounds(draws: list[float], level: float) -> tuple[float | None, float | None]:
    finite = np.asarray([d for d in draws if math.isfinite(d)], dtype=np.float64)
    if finite.size < 0.9 * len(draws) or finite.size == 0:
        return None, None
    tail = 100 * (1 - level) / 2
    low, high = np.percentile(finite, [tail, 100 - tail])
    return float(low), float(high)


def _repeat_picks(count: int, rng: np.random.Generator) -> NDArray[np.int64]:
    if count == 1:
        return np.zeros(1, dtype=np.int64)
    return rng.integers(0, count, size=count).astype(np.int64)


def value_interval(
    repeats: Sequence[Repeat],
    stat: Statistic,
    *,
    needs_repeats: bool = False,
    resamples: int = DEFAULT_RESAMPLES,
    level: float = 0.95,
    seed: int = 0,
) -> Interval:
    """One server's figure with its bootstrap interval.

    `needs_repeats`: the figure varies only between runs (a throughput), so one repeat gives no
    interval (a bootstrap over requests would report a spurious certainty).
    """
    estimate = pooled(repeats, stat)
    method = method_name(len(repeats))
    if estimate is None or (needs_repeats and len(repeats) < 2):
        return Interval(estimate, None, None, method)
    rng = np.random.default_rng(seed)
    draws = []
    for _ in range(resamples):
        values, duration = _draw(repeats, _repeat_picks(len(repeats), rng), rng)
        draws.append(stat(values, duration))
    low, high = _bounds(draws, level)
    return Interval(estimate, low, high, method)


def ratio_interval(
    subject: Sequence[Repeat],
    baseline: Sequence[Repeat],
    stat: Statistic,
    *,
    higher_is_better: bool,
    needs_repeats: bool = False,
    resamples: int = DEFAULT_RESAMPLES,
    level: float = 0.95,
    seed: int = 0,
) -> Interval:
    """The speed-up of `subject` over `baseline` (above 1: subject better) with its interval.

    Throughputs: subject / baseline; latencies: baseline / subject. Repeats are paired by number
    when both sides have the same count, else drawn independently.
    """
    a, b = pooled(subject, stat), pooled(baseline, stat)
    count = min(len(subject), len(baseline))
    method = method_name(count)

    def ratio(x: float | None, y: float | None) -> float | None:
        if x is None or y is None or not x > 0 or not y > 0:
            return None
        return x / y if higher_is_better else y / x

    estimate = ratio(a, b)
    if estimate is None or (needs_repeats and count < 2):
        return Interval(estimate, None, None, method)
    rng = np.random.default_rng(seed)
    paired = len(subject) == len(baseline)
    draws = []
    for _ in range(resamples):
        picks_a = _repeat_picks(len(subject), rng)
        picks_b = picks_a if paired else _repeat_picks(len(baseline), rng)
        va, da = _draw(subject, picks_a, rng)
        vb, db = _draw(baseline, picks_b, rng)
        value = ratio(stat(va, da), stat(vb, db))
        draws.append(math.nan if value is None else value)
    low, high = _bounds(draws, level)
    return Interval(estimate, low, high, method)


def tail_samples(count: int, percentile: float) -> float:
    """Samples expected beyond the `percentile` on its smaller side: count * min(q, 1 - q)."""
    return count * _side(percentile)


def _side(percentile: float) -> float:
    """min(q, 1 - q), rounded so that 100 - 99.9 is exactly 0.1."""
    return round(min(percentile, 100 - percentile), 9) / 100


def too_few_for(count: int | None, percentile: float) -> bool:
    """True when a percentile of `count` samples has fewer than `MIN_TAIL_SAMPLES` beyond it.

    p99 needs 2,000 samples, p95 400, p90 200, p50 40. A mean (percentile None) is never marked.
    """
    if count is None:
        return False
    return tail_samples(count, percentile) < MIN_TAIL_SAMPLES - 1e-9  # 200 * 0.1 may be 19.999...


def samples_needed(percentile: float) -> int:
    """The smallest sample count that is not `too_few_for` this percentile (0 < percentile < 100)."""
    side = _side(percentile)
    if not side > 0:
        raise ValueError("the minimum and maximum have no tail: no sample count is enough")
    return math.ceil(MIN_TAIL_SAMPLES / side - 1e-9)
