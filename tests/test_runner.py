"""Load shapes of the runner against the scripted server: bounds, warm-up, open loop, cap, stop, sweeps."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from loadgen.results import MemorySink
from loadgen.run_config import LoadSpec, RequestOptions, Target
from loadgen.runner import run_level, run_sweep
from loadgen.schedule import schedule_ns
from loadgen.stats import concurrency
from loadgen.workloads.base import Prompt
from tests.fixtures.procs import ServerProcess
from tests.fixtures.sim import fetch_truth

PROMPTS = [Prompt(text="prompt" + " word" * i, output_tokens=8) for i in range(5)]
OPTIONS = RequestOptions(max_tokens=8)


def target(server: ServerProcess) -> Target:
    return Target(name="sim", base_url=server.base_url, model="sim-model")


async def test_count_bound_and_warmup_are_kept_apart(sim_server: ServerProcess) -> None:
    sink = MemorySink()
    load = LoadSpec(mode="closed", concurrency=3, num_requests=10, warmup_requests=4)
    result = await run_level(target(sim_server), PROMPTS, load, OPTIONS, sink)
    assert sorted(r.index for r in sink.records) == list(range(14))
    assert [r.index for r in sink.records if r.warmup] and all(r.index < 4 for r in sink.records if r.warmup)
    assert sum(r.warmup for r in sink.records) == 4
    assert result.summary["completed"] == 10 and len(result.measured) == 10
    assert len({r.request_id for r in sink.records}) == 14


async def test_duration_bound_stops_sending_when_the_time_is_up(sim_server: ServerProcess) -> None:
    load = LoadSpec(mode="closed", concurrency=2, duration_s=0.4)
    result = await run_level(target(sim_server), PROMPTS, load, OPTIONS, MemorySink())
    sends = [r.send_ns for r in result.measured]
    assert len(sends) >= 4
    assert (max(sends) - min(sends)) / 1e9 < 0.4 + 0.05
    assert all(r.ok for r in result.measured)


async def test_closed_loop_keeps_the_concurrency_at_the_server(sim_server: ServerProcess) -> None:
    load = LoadSpec(mode="closed", concurrency=6, num_requests=30)
    result = await run_level(target(sim_server), PROMPTS, load, OPTIONS, MemorySink())
    truth = {t["request_id"]: t for t in fetch_truth(sim_server.base_url)}
    mine = [truth[r.request_id] for r in result.measured]
    _, peak = concurrency([(t["received_ns"], t["end_ns"]) for t in mine])
    assert peak == 6
    assert result.selfcheck.target_in_flight == 6
    assert result.selfcheck.achieved_in_flight is not None and result.selfcheck.achieved_in_flight > 5.0


async def test_open_loop_sends_on_the_seeded_schedule_and_times_from_it(sim_server: ServerProcess) -> None:
    load = LoadSpec(mode="open", rate=40.0, arrival="poisson", num_requests=20, seed=11)
    first = await run_level(target(sim_server), PROMPTS, load, OPTIONS, MemorySink())
    second = await run_level(target(sim_server), PROMPTS, load, OPTIONS, MemorySink())
    expected = schedule_ns(20, 40.0, "poisson", seed=11)
    for result in (first, second):
        records = sorted(result.measured, key=lambda r: r.index)
        assert all(r.scheduled_ns is not None for r in records)
        t0 = records[0].scheduled_ns
        assert [r.scheduled_ns - t0 for r in records] == expected  # type: ignore[operator]
        for r in records:
            assert r.start_ns == r.scheduled_ns and r.send_ns >= r.scheduled_ns  # type: ignore[operator]
            assert r.ttft_ns == r.content_ns[0] - r.scheduled_ns  # type: ignore[operator]
    assert [r.index for r in sorted(first.measured, key=lambda r: r.index)] == list(range(20))


async def test_open_loop_concurrency_cap_queues_requests(sim_server: ServerProcess) -> None:
    load = LoadSpec(mode="open", rate=500.0, arrival="constant", concurrency=2, num_requests=12)
    result = await run_level(target(sim_server), PROMPTS, load, OPTIONS, MemorySink())
    _, peak = concurrency([(r.send_ns, r.end_ns) for r in result.measured if r.end_ns])
    assert peak == 2
    assert result.summary["p99_queue_delay_ms"] > 20  # later arrivals waited for a slot
    assert all(r.ok for r in result.measured)


async def test_warmup_in_open_loop_is_flagged_and_excluded(sim_server: ServerProcess) -> None:
    sink = MemorySink()
    load = LoadSpec(mode="open", rate=100.0, arrival="constant", num_requests=5, warmup_requests=3)
    result = await run_level(target(sim_server), PROMPTS, load, OPTIONS, sink)
    assert [r.warmup for r in sorted(sink.records, key=lambda r: r.index)] == [True] * 3 + [False] * 5
    assert result.summary["completed"] == 5


async def test_stop_cancels_in_flight_requests_and_records_them(sim_server: ServerProcess) -> None:
    stop = asyncio.Event()
    sink = MemorySink()
    load = LoadSpec(mode="closed", concurrency=4, num_requests=10_000)
    asyncio.get_running_loop().call_later(0.25, stop.set)
    result = await run_level(target(sim_server), PROMPTS, load, OPTIONS, sink, stop=stop)
    cancelled = [r for r in sink.records if r.error_class == "cancelled"]
    assert result.interrupted and result.summary["interrupted"]
    assert 1 <= len(cancelled) <= 4
    assert all(r.end_ns is not None for r in sink.records)
    assert len(sink.records) < 200


async def test_sweep_gives_one_result_per_level_on_one_client(sim_server: ServerProcess) -> None:
    loads = [LoadSpec(mode="closed", concurrency=c, num_requests=6) for c in (1, 3)]
    seen: list[str] = []
    results = await run_sweep(
        target(sim_server), PROMPTS, loads, OPTIONS, MemorySink(), on_level=lambda r: seen.append(r.level)
    )
    assert [r.level for r in results] == seen == ["concurrency=1", "concurrency=3"]
    assert [r.summary["completed"] for r in results] == [6, 6]
    assert results[1].summary["max_concurrent_requests"] == 3


async def test_prompts_cycle_in_index_order(sim_server: ServerProcess) -> None:
    opts = RequestOptions(max_tokens=8, save_text=True)
    load = LoadSpec(mode="closed", concurrency=1, num_requests=7)
    result = await run_level(target(sim_server), PROMPTS, load, opts, MemorySink())
    truth = {t["request_id"]: t for t in fetch_truth(sim_server.base_url)}
    lengths = [truth[r.request_id]["prompt_tokens"] for r in sorted(result.measured, key=lambda r: r.index)]
    assert len(set(lengths[:5])) == 5
    assert lengths[:2] == lengths[5:7]


@pytest.mark.parametrize("client", ["fast", "httpx"])
async def test_both_clients_record_the_same_stream(sim_server: ServerProcess, client: str) -> None:
    opts = RequestOptions(max_tokens=8, client=client, save_text=True)  # type: ignore[arg-type]
    load = LoadSpec(mode="closed", concurrency=2, num_requests=4)
    result = await run_level(target(sim_server), PROMPTS, load, opts, MemorySink())
    assert all(
        r.ok and r.output_tokens == 8 and len(r.content_ns) == 8 and r.output_text for r in result.measured
    )


async def test_live_metrics_count_every_request_and_token(sim_server: ServerProcess) -> None:
    from loadgen.exporter import LiveMetrics

    live = LiveMetrics()
    load = LoadSpec(mode="closed", concurrency=2, num_requests=6, warmup_requests=1)
    await run_level(target(sim_server), PROMPTS, load, OPTIONS, MemorySink(), live)
    value = live.registry.get_sample_value
    assert value("loadgen_requests_total", {"target": "sim", "outcome": "success"}) == 7
    assert value("loadgen_output_tokens_total", {"target": "sim"}) == 7 * 8
    assert value("loadgen_time_to_first_token_seconds_count", {"target": "sim"}) == 7
    assert value("loadgen_requests_in_flight", {"target": "sim"}) == 0


async def test_waiting_for_the_last_requests_does_not_spin(
    sim_server: ServerProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    # One worker is done at once, the other streams 16 tokens: waiting for it must sleep, not re-poll
    # a set holding the finished worker (a busy loop that took a core from the servers under test).
    calls = 0
    wait = asyncio.wait

    async def counted(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        return await wait(*args, **kwargs)

    monkeypatch.setattr(asyncio, "wait", counted)
    prompts = [Prompt(text="short", output_tokens=1), Prompt(text="long", output_tokens=16)]
    load = LoadSpec(mode="closed", concurrency=2, num_requests=2)
    result = await run_level(target(sim_server), prompts, load, RequestOptions(), MemorySink())
    assert [r.output_tokens for r in sorted(result.measured, key=lambda r: r.index)] == [1, 16]
    assert calls <= 4, f"asyncio.wait was called {calls} times while one request was in flight"
