"""Token-length distributions: `fixed:N | uniform:LO,HI | exponential:MEAN[,MAX] | normal:MEAN,STD`.

`parse_length_dist("exponential:64,512")` checks a spec once, with a one-line `ValueError` for one that
cannot be sampled (unknown kind, wrong arity, a number that is not one, negative or zero lengths,
LO > HI, MAX < MEAN, STD < 0). `LengthDist.sample(count, rng)` draws whole token counts, rounded and
clamped to at least 1 (exponential: at most MAX), and says how many it clamped, so a report can say so.
The same seed gives the same lengths.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

LengthKind = Literal["fixed", "uniform", "exponential", "normal"]
KINDS: dict[str, tuple[int, ...]] = {"fixed": (1,), "uniform": (2,), "exponential": (1, 2), "normal": (2,)}
"""Each kind and the numbers of parameters it takes."""
FORM = {
    "fixed": "fixed:N",
    "uniform": "uniform:LO,HI",
    "exponential": "exponential:MEAN[,MAX]",
    "normal": "normal:MEAN,STD",
}
FORMS = " | ".join(FORM.values())


@dataclass(frozen=True)
class LengthSample:
    """Drawn lengths and how many of them were clamped into range."""

    values: list[int]
    clamped: int


@dataclass(frozen=True)
class LengthDist:
    """A validated length distribution."""

    kind: LengthKind
    params: tuple[float, ...]

    @property
    def spec(self) -> str:
        """The canonical spec text, e.g. `uniform:1,63`."""
        return f"{self.kind}:{','.join(f'{p:g}' for p in self.params)}"

    @property
    def mean(self) -> float:
        """The nominal mean (before rounding and clamping)."""
        if self.kind == "uniform":
            return (self.params[0] + self.params[1]) / 2
        return self.params[0]

    @property
    def cv(self) -> float:
        """The nominal coefficient of variation (std over mean), before rounding and clamping."""
        if self.kind == "fixed":
            return 0.0
        if self.kind == "uniform":
            lo, hi = self.params
            return math.sqrt(((hi - lo + 1) ** 2 - 1) / 12) / self.mean  # discrete uniform on lo..hi
        if self.kind == "exponential":
            return 1.0
        return self.params[1] / self.params[0]

    def sample(self, count: int, rng: random.Random) -> LengthSample:
        """`count` lengths drawn with `rng`, rounded and clamped to >= 1 (exponential: <= MAX)."""
        values: list[int] = []
        clamped = 0
        for _ in range(count):
            raw = self._draw(rng)
            value = max(1, raw)
            if self.kind == "exponential" and len(self.params) == 2:
                value = min(value, int(self.params[1]))
            clamped += value != raw
            values.append(value)
        return LengthSample(values, clamped)

    def _draw(self, rng: random.Random) -> int:
        if self.kind == "fixed":
            return int(self.params[0])
        if self.kind == "uniform":
            return rng.randint(int(self.params[0]), int(self.params[1]))
        if self.kind == "exponential":
            return round(rng.expovariate(1.0 / self.params[0]))
        return round(rng.gauss(self.params[0], self.params[1]))


def _number(text: str, spec: str, name: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{name} {spec!r}: {text.strip()!r} is not a number") from None
    if not math.isfinite(value):
        raise ValueError(f"{name} {spec!r}: {text.strip()!r} is not a finite number")
    return value


def parse_length_dist(text: str, name: str = "length distribution") -> LengthDist:
    """Parse and check a spec; ValueError with a one-line reason (naming `name`) if it cannot be sampled."""
    kind, sep, rest = text.strip().partition(":")
    kind = kind.strip().lower()
    if kind not in KINDS or not sep:
        raise ValueError(f"{name} {text!r}: expected {FORMS}")
    params = tuple(_number(part, text, name) for part in rest.split(","))
    if len(params) not in KINDS[kind]:
        raise ValueError(f"{name} {text!r}: expected {FORM[kind]}")
    if any(p < 0 for p in params):
        raise ValueError(f"{name} {text!r}: lengths cannot be negative")
    integral = params if kind in ("fixed", "uniform") else params[1:] if kind == "exponential" else ()
    if any(p != int(p) for p in integral):
        raise ValueError(f"{name} {text!r}: {kind} takes whole token counts")
    if kind in ("fixed", "uniform") and min(params) < 1:
        raise ValueError(f"{name} {text!r}: lengths must be at least 1 token")
    if kind in ("exponential", "normal") and params[0] < 1:
        raise ValueError(f"{name} {text!r}: the mean must be at least 1 token")
    if kind == "uniform" and params[0] > params[1]:
        raise ValueError(f"{name} {text!r}: LO must not exceed HI")
    if kind == "exponential" and len(params) == 2 and params[1] < params[0]:
        raise ValueError(f"{name} {text!r}: MAX must be at least the MEAN")
    return LengthDist(kind, params)  # type: ignore[arg-type]


def describe_lengths(values: Sequence[int]) -> dict[str, Any]:
    """count, mean, p50, p90, min, max and coefficient of variation (population std / mean) of lengths."""
    if not values:
        return {"count": 0, "mean": None, "p50": None, "p90": None, "min": None, "max": None, "cv": None}
    ordered = sorted(values)
    n = len(ordered)
    mean = sum(ordered) / n
    std = math.sqrt(sum((v - mean) ** 2 for v in ordered) / n)

    def quantile(q: float) -> float:  # linear interpolation, as numpy's default
        position = q * (n - 1)
        low = math.floor(position)
        high = min(low + 1, n - 1)
        return ordered[low] + (ordered[high] - ordered[low]) * (position - low)

    return {
        "count": n,
        "mean": mean,
        "p50": quantile(0.5),
        "p90": quantile(0.9),
        "min": ordered[0],
        "max": ordered[-1],
        "cv": std / mean if mean else None,
    }
