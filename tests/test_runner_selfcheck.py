"""The self-check: a generator that cannot keep up says so, with the figures; an idle one costs ~nothing."""

from __future__ import annotations

import asyncio
import time

from loadgen.results import MemorySink
from loadgen.run_config import LoadSpec, RequestOptions, Target
from loadgen.runner import run_level
from loadgen.selfcheck import judge, steady_in_flight
from loadgen.workloads.base import Prompt
from tests.fixtures.procs import ServerProcess
from tests.fixtures.sim import SimFactory
from tests.test_blame import MS, rec


def test_a_healthy_level_is_not_client_bound() -> None:
    records = [rec(i, i * 10, i * 10 + 40) for i in range(100)]
    report = judge(
        wall_s=1.0,
        cpu_s=0.1,
        lags_ns=[100_000] * 50,
        records=records,
        target_in_flight=4,
        schedule_lags_ns=[],
        waited_s=0.0,
    )
    assert not report.client_bound and report.reasons == []
    assert report.achieved_in_flight is not None and 3.9 < report.achieved_in_flight <= 4.0


def test_each_symptom_is_named_with_its_figure() -> None:
    records = [rec(i, i * 10, i * 10 + 20) for i in range(100)]  # 2 in flight, 4 asked for
    report = judge(
        wall_s=2.0,
        cpu_s=1.95,
        lags_ns=[20 * MS] * 50,
        records=records,
        target_in_flight=4,
        schedule_lags_ns=[9 * MS] * 10,
        waited_s=0.8,
    )
    assert report.client_bound
    text = " | ".join(report.reasons)
    for fragment in (
        "event-loop lag p99 20.0 ms",
        "98% of a core",
        "2.0 of 4",
        "9.0 ms behind schedule",
        "waited 0.80 s",
    ):
        assert fragment in text


def test_steady_in_flight_leaves_out_the_draining_tail() -> None:
    records = [rec(0, 0, 100), rec(1, 0, 100), rec(2, 100, 300)]
    assert steady_in_flight(records) == 2.0


def test_steady_in_flight_leaves_out_the_first_waves_ramp() -> None:
    # Four slots filled one send every 10 ms, then a send as each request ends: 4 in flight from 30 ms.
    first_wave = [rec(i, 10 * i, 10 * i + 200) for i in range(4)]
    records = first_wave + [rec(4 + i, 200 + 10 * i, 400) for i in range(4)]
    assert (steady_in_flight(records) or 0) < 3.9  # the ramp counted in
    assert steady_in_flight(records, ramp=4) == 4.0


def test_a_level_sent_all_at_once_has_no_steady_window_and_is_not_client_bound() -> None:
    # 128 requests sent at once over 5 ms (the announcement's setting): the mean over the ramp is
    # about 64, which read as "only 61.5 of 128 in flight" on the H100 claims run.
    records = [rec(i, i * 5 / 128, 1000 + 30 * i) for i in range(128)]
    assert 0 < (steady_in_flight(records) or 0) < 70
    report = judge(
        wall_s=5.0,
        cpu_s=0.2,
        lags_ns=[100_000] * 50,
        records=records,
        target_in_flight=128,
        schedule_lags_ns=[],
        waited_s=0.0,
    )
    assert report.achieved_in_flight is None and not report.client_bound


async def test_blocked_event_loop_is_reported_as_client_bound(sim_server: ServerProcess) -> None:
    target = Target(name="sim", base_url=sim_server.base_url, model="sim-model")
    loop = asyncio.get_running_loop()

    def hog() -> None:  # a generator that cannot keep up: its loop stalls 30 ms at a time
        time.sleep(0.03)
        handle[0] = loop.call_later(0.01, hog)

    handle = [loop.call_later(0.01, hog)]
    try:
        result = await run_level(
            target,
            [Prompt(text="x")],
            LoadSpec(mode="closed", concurrency=2, num_requests=12),
            RequestOptions(max_tokens=8),
            MemorySink(),
        )
    finally:
        handle[0].cancel()
    assert result.summary["client_bound"] is True
    assert any("event-loop lag" in reason for reason in result.selfcheck.reasons)
    assert result.summary["selfcheck"]["loop_lag_p99_ms"] > 10


async def test_waiting_on_a_slow_server_costs_almost_no_cpu(sim_server_factory: SimFactory) -> None:
    with sim_server_factory(ttft_ms=400, itl_ms=50, output_tokens=4) as server:
        target = Target(name="sim", base_url=server.base_url, model="sim-model")
        result = await run_level(
            target,
            [Prompt(text="x")],
            LoadSpec(mode="closed", concurrency=1, num_requests=2),
            RequestOptions(max_tokens=4),
            MemorySink(),
        )
    assert result.selfcheck.wall_s > 1.0
    assert result.selfcheck.cpu_share_of_core < 0.05
