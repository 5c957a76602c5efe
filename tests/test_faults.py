"""Each fault becomes a counted, classified error and the run goes on."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Literal

import pytest

from loadgen.client import make_client
from loadgen.record import RequestRecord
from loadgen.results import MemorySink
from loadgen.run_config import LoadSpec, RequestOptions, Target, Timeouts
from loadgen.runner import run_level
from loadgen.workloads.base import Prompt
from tests.fixtures.procs import ServerProcess, free_port
from tests.fixtures.sim import SimFactory

PROMPT = Prompt(text="hello")


@pytest.fixture(scope="module")
def faulty_sim(sim_server_factory: SimFactory) -> Iterator[ServerProcess]:
    """A scripted server whose stalls last 1 s; faults are chosen per request by header."""
    with sim_server_factory(ttft_ms=10, itl_ms=1, output_tokens=8, hang_s=1.0) as server:
        yield server


async def send_one(
    base_url: str,
    fault: str | None,
    client: str = "fast",
    api: Literal["completions", "chat"] = "completions",
    stream: bool = True,
    timeouts: Timeouts | None = None,
) -> RequestRecord:
    options = RequestOptions(
        api=api,
        stream=stream,
        max_tokens=8,
        client=client,  # type: ignore[arg-type]
        extra_headers={"X-Sim-Fault": fault} if fault else {},
        timeouts=timeouts or Timeouts(connect_s=2, ttft_s=5, idle_s=5, total_s=10),
    )
    c = make_client(Target(name="sim", base_url=base_url, model="sim-model"), options)
    record = RequestRecord(
        request_id=f"fault-{fault}", target="sim", index=0, api=api, stream=stream, send_ns=0
    )
    try:
        await c.send(PROMPT, record)
    finally:
        await c.aclose()
    return record


CASES = [
    ("http_500", "http_5xx"),
    ("http_429", "http_4xx"),
    ("http_400", "http_4xx"),
    ("inband_error", "inband_error"),
    ("malformed_sse", "malformed_sse"),
    ("cut_stream", "stream_cut"),
]


@pytest.mark.parametrize("client", ["fast", "httpx"])
@pytest.mark.parametrize("api", ["completions", "chat"])
@pytest.mark.parametrize(("fault", "error_class"), CASES)
async def test_fault_is_classified(
    faulty_sim: ServerProcess, fault: str, error_class: str, api: Literal["completions", "chat"], client: str
) -> None:
    record = await send_one(faulty_sim.base_url, fault, client, api)
    assert record.error_class == error_class, record.error_message
    assert record.error_message
    assert record.end_ns is not None and record.end_ns >= record.send_ns


@pytest.mark.parametrize(("fault", "error_class"), CASES[:5])
async def test_fault_in_a_non_streamed_response_is_classified(
    faulty_sim: ServerProcess, fault: str, error_class: str
) -> None:
    record = await send_one(faulty_sim.base_url, fault, stream=False)
    assert record.error_class == error_class, record.error_message


@pytest.mark.parametrize("client", ["fast", "httpx"])
async def test_unreachable_server_is_a_connect_error(client: str) -> None:
    record = await send_one(f"http://127.0.0.1:{free_port()}", None, client)
    assert record.error_class == "connect_error"


@pytest.mark.parametrize("client", ["fast", "httpx"])
@pytest.mark.parametrize("fault", ["no_tokens", "slow_headers"])
async def test_server_that_never_sends_a_token_times_out(
    faulty_sim: ServerProcess, fault: str, client: str
) -> None:
    limits = Timeouts(connect_s=2, ttft_s=0.1, idle_s=5, total_s=10)
    record = await send_one(faulty_sim.base_url, fault, client, timeouts=limits)
    assert record.error_class == "timeout"
    assert record.error_message == "no token within 0.1 s"  # the same message from every client
    assert 0.09 < (record.end_ns - record.send_ns) / 1e9 < 0.9  # type: ignore[operator]


async def test_idle_gap_limit_fires_between_events(faulty_sim: ServerProcess) -> None:
    limits = Timeouts(connect_s=2, ttft_s=None, idle_s=0.1, total_s=None)
    record = await send_one(faulty_sim.base_url, "slow_headers", timeouts=limits)
    assert record.error_class == "timeout" and "nothing received" in (record.error_message or "")


async def test_total_limit_fires_on_a_slow_stream(sim_server_factory: SimFactory) -> None:
    with sim_server_factory(ttft_ms=10, itl_ms=50, output_tokens=20) as server:
        limits = Timeouts(connect_s=2, ttft_s=None, idle_s=None, total_s=0.3)
        record = await send_one(server.base_url, None, timeouts=limits)
    assert record.error_class == "timeout" and len(record.content_ns) >= 3


async def test_stalled_stream_without_limits_ends_as_classified_error(faulty_sim: ServerProcess) -> None:
    record = await send_one(faulty_sim.base_url, "no_tokens")
    assert record.error_class in ("stream_cut", "no_tokens")
    assert not record.content_ns


async def test_run_goes_on_and_counts_every_fault(sim_server_factory: SimFactory) -> None:
    with sim_server_factory(ttft_ms=5, itl_ms=1, output_tokens=4, fault="http_500", fault_every=3) as server:
        target = Target(name="sim", base_url=server.base_url, model="sim-model")
        load = LoadSpec(mode="closed", concurrency=1, num_requests=9)
        result = await run_level(target, [PROMPT], load, RequestOptions(max_tokens=4), MemorySink())
    assert result.summary["completed"] == 6
    assert result.summary["failed"] == 3
    assert result.summary["errors"] == {"http_5xx": 3}


async def test_connection_is_reused_after_an_error_response(faulty_sim: ServerProcess) -> None:
    options = RequestOptions(max_tokens=8, extra_headers={})
    c = make_client(Target(name="sim", base_url=faulty_sim.base_url, model="sim-model"), options)
    try:
        await c.preopen(1)
        outcomes = []
        for i in range(3):
            record = RequestRecord(
                request_id=f"reuse-{i}", target="sim", index=i, api="completions", stream=True, send_ns=0
            )
            await c.send(PROMPT, record)
            outcomes.append(record.ok)
        await asyncio.sleep(0)
    finally:
        await c.aclose()
    assert outcomes == [True, True, True]
