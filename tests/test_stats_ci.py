"""The bootstrap intervals and the tail-sample rule: known cases, coverage, pairing, reproducibility."""

from __future__ import annotations

import numpy as np
import pytest

from loadgen.stats_ci import (
    Repeat,
    percentile_of,
    rate,
    ratio_interval,
    samples_needed,
    too_few_for,
    value_interval,
)

median = percentile_of(50)


def test_ratio_of_two_constant_series_is_a_point() -> None:
    a = [Repeat.of([[10.0]] * 30), Repeat.of([[10.0]] * 30)]
    b = [Repeat.of([[30.0]] * 30), Repeat.of([[30.0]] * 30)]
    ci = ratio_interval(a, b, median, higher_is_better=False, resamples=200)
    assert ci.estimate == pytest.approx(3.0)
    assert ci.low == pytest.approx(3.0) and ci.high == pytest.approx(3.0)


def test_throughput_ratio_uses_pooled_tokens_over_pooled_duration() -> None:
    a = [Repeat.of([[8.0]] * 10, duration_s=1.0), Repeat.of([[8.0]] * 10, duration_s=1.0)]
    b = [Repeat.of([[8.0]] * 10, duration_s=4.0), Repeat.of([[8.0]] * 10, duration_s=4.0)]
    ci = ratio_interval(a, b, rate, higher_is_better=True, needs_repeats=True, resamples=200)
    assert ci.estimate == pytest.approx(4.0)
    assert (ci.low, ci.high) == (pytest.approx(4.0), pytest.approx(4.0))


def test_throughput_with_one_repeat_has_no_interval() -> None:
    one = [Repeat.of([[8.0], [9.0], [7.0]], duration_s=1.0)]
    ci = value_interval(one, rate, needs_repeats=True)
    assert ci.estimate == pytest.approx(24.0)
    assert not ci.has_interval and "1 repeat" in ci.method


def test_interval_on_normal_data_covers_the_true_median_about_95_percent() -> None:
    rng = np.random.default_rng(1)
    trials, covered, widths = 150, 0, []
    for trial in range(trials):
        data = rng.normal(100.0, 10.0, size=80)
        ci = value_interval([Repeat.of([[x] for x in data])], median, resamples=300, seed=trial)
        assert ci.low is not None and ci.high is not None
        covered += ci.low <= 100.0 <= ci.high
        widths.append(ci.high - ci.low)
    assert 0.88 <= covered / trials <= 0.995
    # the median's standard error is 1.2533 * 10 / sqrt(80) = 1.40; a 95% interval is about 5.5 wide
    assert 4.0 < float(np.mean(widths)) < 7.5


def test_hierarchical_interval_sees_run_to_run_spread() -> None:
    """Repeats that differ by an offset: an interval over requests alone would be far too narrow."""
    rng = np.random.default_rng(2)
    offsets = [-3.0, 2.0, -1.0, 4.0, 0.0, -2.0]
    repeats = [Repeat.of([[x] for x in rng.normal(50 + o, 0.1, size=40)]) for o in offsets]
    ci = value_interval(repeats, median, resamples=500)
    single = value_interval(repeats[:1], median, resamples=500)
    assert ci.low is not None and ci.high is not None
    assert single.low is not None and single.high is not None
    assert ci.high - ci.low > 2.0  # the offsets' spread (sd 2.7 over 6 repeats)
    assert single.high - single.low < 0.2
    assert "6 repeats" in ci.method


def test_pairing_cancels_drift_common_to_both_servers() -> None:
    """Both servers slow down together from repeat to repeat: the ratio stays exactly 2."""
    drift = [1.0, 1.5, 2.0, 3.0]
    a = [Repeat.of([[10 * d]] * 20) for d in drift]
    b = [Repeat.of([[20 * d]] * 20) for d in drift]
    ci = ratio_interval(a, b, median, higher_is_better=False, resamples=300)
    assert ci.estimate == pytest.approx(2.0)
    assert (ci.low, ci.high) == (pytest.approx(2.0), pytest.approx(2.0))


def test_request_values_stay_together_when_resampled() -> None:
    """Gaps of one request are drawn as a block: two requests of constant gaps give two outcomes only."""
    repeat = Repeat.of([[1.0] * 50, [3.0] * 50])
    ci = value_interval([repeat], percentile_of(50), resamples=400, seed=3)
    assert ci.low == pytest.approx(1.0) and ci.high == pytest.approx(3.0)


def test_same_seed_same_interval_other_seed_other_interval() -> None:
    rng = np.random.default_rng(4)
    repeats = [Repeat.of([[x] for x in rng.exponential(5, 60)]) for _ in range(3)]
    first = value_interval(repeats, median, seed=7)
    assert value_interval(repeats, median, seed=7) == first
    assert value_interval(repeats, median, seed=8) != first


@pytest.mark.parametrize(
    ("percentile", "needed"), [(50, 40), (90, 200), (95, 400), (99, 2000), (99.9, 20000), (10, 200)]
)
def test_tail_sample_rule(percentile: float, needed: int) -> None:
    assert samples_needed(percentile) == needed
    assert too_few_for(needed - 1, percentile)
    assert not too_few_for(needed, percentile)


def test_the_maximum_has_no_tail() -> None:
    with pytest.raises(ValueError):
        samples_needed(100)
    assert too_few_for(10**6, 100)
    assert not too_few_for(None, 99)


def test_report_marks_percentiles_by_their_own_sample_counts() -> None:
    from loadgen.report.tails import is_thin

    summary = {"completed": 30, "samples": {"ttft": 30, "itl": 3000, "e2el": 30, "tpot": 30}}
    assert is_thin("p50_e2el_ms", summary) and is_thin("p50_ttft_ms", summary)
    assert not is_thin("p99_itl_ms", summary) and is_thin("p99.9_itl_ms", summary)
    assert not is_thin("mean_tpot_ms", summary) and not is_thin("output_throughput", summary)
    assert is_thin("p90_ttft_ms", {"completed": 199}) and not is_thin("p90_ttft_ms", {"completed": 200})
    assert not is_thin("p90_itl_ms", {"completed": 10})  # gaps were not counted: unknown, not marked
