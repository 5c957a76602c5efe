"""Open-loop arrival schedules: seeded, the right rate, the right shape."""

from __future__ import annotations

import numpy as np
import pytest

from loadgen.errors import ConfigError
from loadgen.run_config import Arrival, LoadSpec
from loadgen.schedule import gap_shape, schedule_ns


def gaps_s(offsets: list[int]) -> np.ndarray:
    return np.diff(np.asarray(offsets, dtype=np.float64)) / 1e9


def test_same_seed_gives_the_same_schedule_and_another_seed_does_not() -> None:
    assert schedule_ns(500, 10.0, "poisson", seed=3) == schedule_ns(500, 10.0, "poisson", seed=3)
    assert schedule_ns(500, 10.0, "poisson", seed=3) != schedule_ns(500, 10.0, "poisson", seed=4)


def test_constant_arrivals_are_evenly_spaced() -> None:
    assert schedule_ns(5, 4.0, "constant") == [0, 250_000_000, 500_000_000, 750_000_000, 1_000_000_000]


@pytest.mark.parametrize(
    ("arrival", "burstiness", "cv"), [("poisson", 1.0, 1.0), ("gamma", 0.25, 2.0), ("gamma", 4.0, 0.5)]
)
def test_mean_rate_and_burstiness_match_the_request(arrival: str, burstiness: float, cv: float) -> None:
    gaps = gaps_s(schedule_ns(20_000, 8.0, arrival, burstiness, seed=1))  # type: ignore[arg-type]
    assert gaps.mean() == pytest.approx(1 / 8.0, rel=0.05)
    assert gaps.std() / gaps.mean() == pytest.approx(cv, rel=0.08)
    assert (gaps >= 0).all()


def test_poisson_gaps_are_memoryless() -> None:
    gaps = gaps_s(schedule_ns(20_000, 10.0, "poisson", seed=2))
    # P(gap > 2/rate) = e^-2 for exponential gaps
    assert (gaps > 0.2).mean() == pytest.approx(np.exp(-2), abs=0.015)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"mode": "closed"},
        {"mode": "closed", "concurrency": 0, "num_requests": 1},
        {"mode": "open", "rate": 0, "num_requests": 1},
        {"mode": "open", "rate": 1},
        {"mode": "open", "rate": 1, "num_requests": 1, "burstiness": 0},
    ],
)
def test_impossible_load_levels_are_refused(kwargs: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        LoadSpec(**kwargs)  # type: ignore[arg-type]


def test_level_labels_name_the_load() -> None:
    assert LoadSpec(mode="closed", concurrency=16, num_requests=1).label == "concurrency=16"
    assert LoadSpec(mode="open", rate=2.5, num_requests=1).label == "rate=2.5"


@pytest.mark.parametrize(
    ("arrival", "burstiness", "shape"), [("poisson", 3.0, 1.0), ("gamma", 0.5, 0.5), ("gamma", 4.0, 4.0)]
)
def test_the_gap_shape_is_the_one_the_schedule_draws(
    arrival: Arrival, burstiness: float, shape: float
) -> None:
    # gamma gaps of shape k have a squared coefficient of variation 1/k; constant gaps have none
    assert gap_shape(arrival, burstiness) == shape
    gaps = np.diff(schedule_ns(20_000, 10.0, arrival, burstiness, seed=1))
    assert float(gaps.var() / gaps.mean() ** 2) == pytest.approx(1 / shape, rel=0.08)
    assert gap_shape("constant", burstiness) is None
