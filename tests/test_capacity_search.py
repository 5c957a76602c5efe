"""The capacity-at-SLO search: against a deterministic fake probe, and against a scripted server whose
capacity is known (one request at a time, a queue, fixed service time)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import orjson
import pytest

from loadgen.compare.capacity import (
    DEFAULT_TOLERANCE,
    CapacityResult,
    Probe,
    ProbeResult,
    failure_settled,
    search_capacity,
)
from loadgen.compare.capacity_saved import saved_capacities
from loadgen.compare.plan import ComparePlan
from loadgen.compare.run import CompareInputs, Comparison
from loadgen.compare.targets import probe
from loadgen.report.build import write_report
from loadgen.run_config import RequestOptions, Target
from loadgen.stats import SLO
from loadgen.workloads.base import Prompt
from tests.fixtures.sim import SimFactory


def threshold_probe(capacity: float, requests: int = 100) -> tuple[list[float], Probe]:
    """A probe where every request meets the SLO up to `capacity` req/s and a falling share above."""
    tried: list[float] = []

    async def run(rate: float) -> ProbeResult:
        tried.append(rate)
        share = 1.0 if rate <= capacity else max(0.0, 1.0 - 2 * (rate - capacity) / capacity)
        return ProbeResult(rate=rate, requests=requests, met_slo=int(share * requests))

    return tried, run


def search(
    capacity: float, start_rate: float = 1.0, max_rate: float = 64.0, max_steps: int = 12
) -> tuple[list[float], CapacityResult]:
    tried, run = threshold_probe(capacity)
    result = asyncio.run(
        search_capacity("x", run, start_rate=start_rate, max_rate=max_rate, max_steps=max_steps)
    )
    return tried, result


@pytest.mark.parametrize("capacity", [1.0, 3.3, 10.0, 17.5, 40.0, 50.0])
def test_known_threshold_is_found_within_the_tolerance(capacity: float) -> None:
    tried, result = search(capacity, max_steps=30)
    assert result.stopped == "converged"
    found = result.capacity_rps
    # 90% goodput holds up to capacity * 1.05 with this probe; the answer is a passing rate
    assert found is not None and capacity * (1 - DEFAULT_TOLERANCE) <= found <= capacity * 1.05
    failing = result.lowest_failing_rps
    assert failing is not None and failing - found <= DEFAULT_TOLERANCE * found
    # monotonic: every probe at or below the answer passed, every one above the lowest failure failed
    for probe_result in result.probes:
        assert probe_result.passed() == (probe_result.rate <= found)


def test_growth_doubles_then_bisects() -> None:
    tried, result = search(10.0, max_steps=30)
    assert tried[:5] == [1.0, 2.0, 4.0, 8.0, 16.0]
    assert tried[5] == 12.0  # halfway between the last pass (8) and the first failure (16)
    assert len(tried) == len(set(tried))


@pytest.mark.parametrize("steps", [1, 3, 6])
def test_the_step_bound_is_respected(steps: int) -> None:
    tried, result = search(40.0, max_steps=steps)
    assert len(tried) == steps
    assert result.stopped == "steps"
    assert result.capacity_rps == tried[-1]  # still growing: all passed


def test_a_server_faster_than_the_max_rate_reports_the_max() -> None:
    tried, result = search(500.0, max_rate=20.0)
    assert tried == [1.0, 2.0, 4.0, 8.0, 16.0, 20.0]
    assert result.capacity_rps == 20.0 and result.stopped == "max-rate"


def test_a_failing_first_probe_shrinks_the_rate() -> None:
    tried, result = search(0.3, start_rate=4.0, max_steps=30)
    assert tried[:5] == [4.0, 2.0, 1.0, 0.5, 0.25]
    found = result.capacity_rps
    assert found is not None and 0.3 * (1 - DEFAULT_TOLERANCE) <= found <= 0.3 * 1.05


def test_the_shrinking_search_stops_at_the_lowest_rate_tried() -> None:
    tried, run = threshold_probe(0.05)
    result = asyncio.run(search_capacity("x", run, start_rate=1.0, max_rate=16.0, max_steps=30, min_rate=0.2))
    assert tried == [1.0, 0.5, 0.25, 0.2]  # the last halving is clamped to the floor
    assert result.stopped == "below-range" and result.capacity_rps is None
    assert result.lowest_failing_rps == 0.2
    # a start below the floor starts at the floor
    tried, run = threshold_probe(10.0)
    asyncio.run(search_capacity("x", run, start_rate=0.1, max_rate=16.0, max_steps=2, min_rate=0.5))
    assert tried == [0.5, 1.0]


@pytest.mark.parametrize(
    ("planned", "missed", "settled"),
    [(40, 4, False), (40, 5, True), (10, 1, False), (10, 2, True), (32, 3, False), (32, 4, True)]
    + [(0, 0, False)],
)
def test_a_probe_fails_for_certain_once_the_rest_cannot_reach_90_percent(
    planned: int, missed: int, settled: bool
) -> None:
    assert failure_settled(planned, missed) is settled


def test_a_client_bound_failure_counts_as_a_failure_and_is_named() -> None:
    async def run(rate: float) -> ProbeResult:
        return ProbeResult(rate, 10, 10 if rate < 4 else 0, client_bound=rate >= 4)

    result = asyncio.run(search_capacity("x", run, start_rate=1, max_rate=64, max_steps=12))
    assert [p.rate for p in result.probes][:4] == [1, 2, 4, 3]
    assert result.capacity_rps is not None and 3 <= result.capacity_rps < 4
    assert result.client_bound_failures == [4]
    assert result.to_dict()["client_bound_failures"] == [4]


def test_an_interrupted_search_says_so_and_keeps_its_probes() -> None:
    calls: list[float] = []

    async def run(rate: float) -> ProbeResult:
        calls.append(rate)
        return ProbeResult(rate, 10, 10)

    result = asyncio.run(
        search_capacity(
            "x", run, start_rate=1, max_rate=64, max_steps=12, should_stop=lambda: len(calls) >= 2
        )
    )
    assert result.stopped == "interrupted" and [p.rate for p in result.probes] == [1, 2]
    assert result.capacity_rps == 2


def test_an_interrupted_probe_neither_passes_nor_fails_and_ends_the_search() -> None:
    from loadgen.compare.capacity import CapacitySearch

    search = CapacitySearch("x", start_rate=4.0, max_rate=64.0, max_steps=12)
    search.record(ProbeResult(4.0, 20, 20))
    cut = ProbeResult(8.0, 40, 3, interrupted=True)  # 3 of 40 planned: the stop came early
    assert not cut.passed() and not cut.failed()
    search.record(cut)
    result = search.result()
    assert search.next_rate() is None and result.stopped == "interrupted"
    assert (result.capacity_rps, result.lowest_failing_rps) == (4.0, None)
    assert result.to_dict()["probes"][1]["interrupted"] is True


def test_the_runs_stop_during_a_probe_is_no_verdict_on_the_server(
    sim_server_factory: SimFactory, tmp_path: Path
) -> None:
    # 4 requests at once, 20 + 39 x 10 = 410 ms each: about 10 req/s, so 4 req/s meets the 1 s TTFT
    # limit; the run is stopped 1.5 s into the first 40-request probe, with requests in flight
    from loadgen.compare.capacity_probe import CapacitySettings, find_capacities
    from loadgen.results import JsonlSink

    with sim_server_factory(ttft_ms=20, itl_ms=10, output_tokens=40, max_concurrency=4, model="m") as server:
        plan = ComparePlan(
            mode="open",
            levels=(4.0,),
            requests_per_level=40,
            warmup=0,
            arrival="constant",
            offline_batches=(),
            capacity_search=True,
        )
        sink = JsonlSink(tmp_path / "capacity.jsonl")
        seen: list[ProbeResult] = []

        async def main() -> list[CapacityResult]:
            stop = asyncio.Event()
            asyncio.get_running_loop().call_later(1.5, stop.set)
            return await find_capacities(
                [Target("x", server.base_url, "m")],
                [Prompt(text=f"prompt {i}") for i in range(8)],
                plan,
                CapacitySettings(max_rate=16.0, max_steps=5, start_rate=4.0),
                RequestOptions(max_tokens=40, ignore_eos=True),
                SLO(ttft_ms=1000),
                sink,
                stop=stop,
                on_probe=lambda target, p: seen.append(p),
            )

        (found,) = asyncio.run(main())
        sink.close()
    (cut,) = found.probes
    assert cut.interrupted and not cut.ended_early and cut.requests == 40, cut
    assert not cut.passed() and not cut.failed() and seen == [cut]
    assert (found.stopped, found.capacity_rps, found.lowest_failing_rps) == ("interrupted", None, None)
    records = [orjson.loads(line) for line in (tmp_path / "capacity.jsonl").read_bytes().splitlines()]
    assert 0 < len(records) < 40 and any(r["error_class"] == "cancelled" for r in records)


@pytest.mark.parametrize(("rate", "e2e_s", "shape"), [(2.0, 2.4, 1.0), (8.0, 2.9, 1.0), (4.0, 1.0, 0.5)])
def test_a_probe_sized_for_random_gaps_spans_the_latencies_almost_always(
    rate: float, e2e_s: float, shape: float
) -> None:
    import numpy as np

    from loadgen.compare.capacity import SUSTAINED_SPANS, sustained_count

    target = SUSTAINED_SPANS * e2e_s
    rng = np.random.default_rng(0)
    naive = sustained_count(rate, e2e_s)  # sized for the mean span: short about half the time
    sized = sustained_count(rate, e2e_s, shape)
    spans = {n: rng.gamma(shape, 1 / (shape * rate), size=(4000, n - 1)).sum(axis=1) for n in (naive, sized)}
    assert 0.3 < float((spans[naive] >= target).mean()) < 0.7
    assert float((spans[sized] >= target).mean()) > 0.95


def test_bad_bounds_are_refused() -> None:
    _, run = threshold_probe(1.0)
    with pytest.raises(ValueError):
        asyncio.run(search_capacity("x", run, start_rate=1, max_rate=8, max_steps=0))
    with pytest.raises(ValueError):
        asyncio.run(search_capacity("x", run, start_rate=1, max_rate=8, max_steps=4, min_rate=9))


# The scripted server: one request at a time (--max-concurrency 1), the others queue. A request takes
# TTFT + (tokens - 1) * ITL = 30 + 7 * 10 = 100 ms, so the server completes 10 req/s. With constant
# arrivals below that, nothing waits and TTFT is 30 ms; above, request k (0, 1, ...) waits
# k * (100 ms - 1000/rate ms), and the TTFT limit of 150 ms (120 ms of slack) holds while that wait is
# at most 120 ms. 90% of 20 measured requests is 18 (k <= 17): 17 * (100 - 1000/rate) <= 120, so
# 90% goodput holds up to 10.76 req/s. The fast server (15 + 7 * 5 = 50 ms, 135 ms of slack):
# 17 * (50 - 1000/rate) <= 135, up to 23.8 req/s.
def test_capacity_search_finds_the_scripted_servers_known_capacity(
    sim_server_factory: SimFactory, tmp_path: Path
) -> None:
    with (
        sim_server_factory(ttft_ms=30, itl_ms=10, output_tokens=8, max_concurrency=1, model="m") as slow,
        sim_server_factory(ttft_ms=15, itl_ms=5, output_tokens=8, max_concurrency=1, model="m") as fast,
    ):
        infos = [probe("fast", fast.base_url), probe("slow", slow.base_url)]
        targets = [Target(i.name, i.base_url, "m") for i in infos]
        prompts = [Prompt(text=f"prompt {i}") for i in range(8)]
        plan = ComparePlan(
            mode="open",
            levels=(8.0,),
            requests_per_level=20,
            warmup=0,
            arrival="constant",
            offline_batches=(),
            baseline="slow",
            capacity_search=True,
            capacity_max_rate=64.0,
            capacity_steps=10,
        )
        inputs = CompareInputs(
            infos,
            targets,
            prompts,
            {"kind": "test"},
            RequestOptions(max_tokens=8, ignore_eos=True),
            plan,
            slo=SLO(ttft_ms=150),
            command=["test"],
        )
        outcome = Comparison(inputs, tmp_path / "run", lambda message: None).run()
    found = {r.target: r for r in outcome.capacity}
    slow_rate, fast_rate = found["slow"].capacity_rps, found["fast"].capacity_rps
    # the search's tolerance is 5%, and a probe's start adds jitter on a loaded machine: accept 15%
    # below the server's rate and 10% above the 90%-goodput bound
    assert slow_rate is not None and 0.85 * 10 <= slow_rate <= 1.1 * 10.76, found["slow"]
    assert fast_rate is not None and 0.85 * 20 <= fast_rate <= 1.1 * 23.8, found["fast"]
    assert all(len(r.probes) <= 10 for r in outcome.capacity)
    first_send: dict[str, int] = {}
    for line in (tmp_path / "run" / "capacity.jsonl").read_bytes().splitlines():
        record = orjson.loads(line)
        prefix = record["request_id"].rsplit("-", 1)[0]
        first_send[prefix] = min(first_send.get(prefix, record["send_ns"]), record["send_ns"])
    order = sorted(first_send, key=first_send.__getitem__)
    assert order[:4] == ["fast-capacity1", "slow-capacity1", "slow-capacity2", "fast-capacity2"]
    saved = orjson.loads((tmp_path / "run" / "capacity.json").read_bytes())
    assert saved["slo"] == {"ttft_ms": 150} and len(saved["results"]) == 2
    report = write_report([tmp_path / "run"])
    markdown = report.markdown.read_text()
    assert "## Capacity at SLO" in markdown and "TTFT <= 150 ms" in markdown
    assert "Capacity at SLO (TTFT <= 150 ms, goodput >= 90%): **fast**" in markdown
    assert markdown.count("| fast | ") >= len(found["fast"].probes)


def searched(target: str, capacity: float, min_rate: float | None = None) -> dict[str, Any]:
    """A search's saved result (`capacity.json`, from 1 req/s up to 64) against a server that passes
    up to `capacity` and fails above."""

    async def run(rate: float) -> ProbeResult:
        return ProbeResult(rate, 10, 10 if rate <= capacity else 0)

    result = asyncio.run(
        search_capacity(target, run, start_rate=1.0, max_rate=64.0, max_steps=30, min_rate=min_rate)
    )
    return result.to_dict()


def test_capacity_ratio_is_a_lower_bound_when_only_the_subject_hit_the_max_rate() -> None:
    from loadgen.report.capacity import _ratio_text

    a, b = searched("a", 1000.0), searched("b", 16.0)
    assert (a["stopped"], a["capacity_rps"]) == ("max-rate", 64.0)
    assert (b["stopped"], b["capacity_rps"]) == ("converged", 16.0)
    found = saved_capacities({"results": [a, b]})
    assert _ratio_text(found["a"], found["b"]) == "at least 4.00x"
    # the base's capacity is a lower bound, so the ratio over it is an upper bound
    assert _ratio_text(found["b"], found["a"]) == "at most 0.25x"


def test_capacity_ratio_is_a_lower_bound_when_the_base_failed_at_every_rate() -> None:
    from loadgen.report.capacity import _capacity_text, _ratio_text

    a, below = searched("a", 6.0), searched("b", 0.0, min_rate=0.125)
    assert (a["stopped"], a["capacity_rps"]) == ("converged", 6.0)
    assert (below["stopped"], below["capacity_rps"], below["lowest_failing_rps"]) == (
        "below-range",
        None,
        0.125,
    )
    found = saved_capacities({"results": [a, below]})
    assert _ratio_text(found["a"], found["b"]) == "at least 48.00x"
    assert _ratio_text(found["b"], found["a"]) == "at most 0.02x"
    assert _capacity_text(found["b"]) == "below 0.125"


def test_capacity_ratio_is_unknown_when_both_servers_hit_the_max_rate() -> None:
    from loadgen.report.capacity import _ratio_text

    found = saved_capacities({"results": [searched("a", 1000.0), searched("b", 1000.0)]})
    assert _ratio_text(found["a"], found["b"]) == "unknown: both are bounds"


def test_a_burst_pass_is_run_again_long_enough_and_only_that_run_counts(
    sim_server_factory: SimFactory, tmp_path: Path
) -> None:
    # 4 requests at once, 20 + 38 x 10 = 400 ms each: 10 req/s. At 16 req/s the queue grows by 6 a
    # second, so request k waits about k x 37.5 ms: a 16-request probe (1 s of arrivals) stays within
    # the 1 s TTFT limit (the last waits ~0.6 s) but spans less than 3 median latencies (~0.7 s), a
    # burst; run again with ~35 requests, those from k ~ 27 on wait over 1 s and it fails. 8 req/s is
    # below the server's rate and passes on a 16-request probe spanning ~1.9 s (> 3 x ~0.42 s).
    with sim_server_factory(ttft_ms=20, itl_ms=10, output_tokens=39, max_concurrency=4, model="m") as server:
        infos = [probe("x", server.base_url)]
        plan = ComparePlan(
            mode="open",
            levels=(16.0,),
            requests_per_level=16,
            warmup=0,
            arrival="constant",
            offline_batches=(),
            capacity_search=True,
            capacity_max_rate=16.0,
            capacity_min_rate=4.0,
            capacity_steps=3,
        )
        inputs = CompareInputs(
            infos,
            [Target("x", server.base_url, "m")],
            [Prompt(text=f"prompt {i}") for i in range(8)],
            {"kind": "test"},
            RequestOptions(max_tokens=39, ignore_eos=True),
            plan,
            slo=SLO(ttft_ms=1000),
            command=["test"],
        )
        outcome = Comparison(inputs, tmp_path / "run", lambda message: None).run()
    (found,) = outcome.capacity
    burst, again, lower = found.probes
    assert (burst.rate, again.rate, lower.rate) == (16.0, 16.0, 8.0)
    assert burst.passed() and burst.burst, burst
    assert again.requests > burst.requests and not again.passed(), again
    assert lower.passed() and not lower.burst, lower
    assert found.capacity_rps == 8.0 and found.sustained_rps == 8.0
    saved = orjson.loads((tmp_path / "run" / "capacity.json").read_bytes())
    first, _, last = saved["results"][0]["probes"]
    assert first["burst"] and not last["burst"]
    assert saved["results"][0]["sustained_rps"] == 8.0


def test_burst_and_sustained_probe_arithmetic() -> None:
    from loadgen.compare.capacity import CapacitySearch, sustained_count

    short = ProbeResult(16.0, 16, 16, window_s=0.94, e2e_p50_s=0.7)
    long = ProbeResult(8.0, 40, 40, window_s=4.9, e2e_p50_s=0.45)
    assert short.burst and not long.burst
    assert not ProbeResult(1.0, 8, 8).burst  # nothing to judge by: not called a burst
    assert sustained_count(16.0, 0.7) == 35  # 3 x 0.7 s x 16/s = 33.6 -> 34 gaps, 35 arrivals
    search = CapacitySearch("x", start_rate=16.0, max_rate=16.0, max_steps=5)
    search.note(short)  # kept, but the search does not move
    assert search.next_rate() == 16.0 and search.low is None
    search.record(ProbeResult(16.0, 35, 20))
    assert search.next_rate() == 8.0
    search.record(long)
    result = search.result()
    assert result.capacity_rps == 8.0 and result.sustained_rps == 8.0
    assert [p.rate for p in result.probes] == [16.0, 16.0, 8.0]
