"""The generate loop in its own process (`hf-server serve --engine process`): it serves like the
thread engine, stops a row whose client went away, and a dead engine fails requests and health."""

from __future__ import annotations

import asyncio
import json
import os
import signal
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from tests.fixtures.hf import HFFactory
from tests.fixtures.procs import ServerProcess

pytestmark = pytest.mark.slow

BODY = {"prompt": "Tell me a story", "ignore_eos": True, "temperature": 0}


@pytest.fixture(scope="module")
def engine_server(hf_server_factory: HFFactory) -> Iterator[ServerProcess]:
    with hf_server_factory("--engine", "process", "--random-weights", "--max-wait-ms", "5") as server:
        yield server


@pytest.fixture
async def client(engine_server: ServerProcess) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=engine_server.base_url, timeout=300) as c:
        yield c


async def _batches(client: httpx.AsyncClient, after: int) -> list[dict[str, Any]]:
    for _ in range(400):
        found = (await client.get("/batches", params={"after": after})).json()["batches"]
        if found:
            return found  # type: ignore[no-any-return]
        await asyncio.sleep(0.05)
    raise AssertionError("no batch record after 20 s")


async def test_the_process_engine_streams_and_records_its_batches(client: httpx.AsyncClient) -> None:
    config = (await client.get("/config")).json()
    assert config["engine"] == "process" and config["engine_pid"] not in (None, os.getpid())
    before = int(config["batches_started"])
    async with client.stream("POST", "/v1/completions", json={**BODY, "max_tokens": 5, "stream": True}) as r:
        lines = [line async for line in r.aiter_lines() if line.startswith("data: ")]
    assert lines[-1] == "data: [DONE]"
    chunks = [json.loads(line.removeprefix("data: ")) for line in lines[:-1]]
    assert chunks[-1]["choices"][0]["finish_reason"] == "length"
    [batch] = await _batches(client, before)
    assert batch["rows"] == 1 and batch["steps"] == 5 and batch["decode_step_s_median"] > 0


async def test_a_client_that_goes_away_stops_its_row_in_the_engine(client: httpx.AsyncClient) -> None:
    before = int((await client.get("/config")).json()["batches_started"])
    body = {**BODY, "max_tokens": 400, "stream": True}
    async with client.stream("POST", "/v1/completions", json=body) as r:
        async for line in r.aiter_lines():
            if '"text"' in line:
                break  # the first token arrived: hang up
    [batch] = await _batches(client, before)
    assert batch["steps"] < 400  # the engine stopped the row long before max_tokens
    metrics = (await client.get("/metrics")).text
    aborted = [
        line
        for line in metrics.splitlines()
        if line.startswith("vllm:request_success_total{") and 'finished_reason="abort"' in line
    ]
    assert aborted and float(aborted[0].rsplit(" ", 1)[1]) >= 1


async def test_a_dead_engine_fails_the_request_in_flight_and_health(hf_server_factory: HFFactory) -> None:
    with hf_server_factory("--engine", "process", "--random-weights") as server:
        async with httpx.AsyncClient(base_url=server.base_url, timeout=300) as client:
            pid = int((await client.get("/config")).json()["engine_pid"])
            body = {**BODY, "max_tokens": 2000, "stream": True}
            async with client.stream("POST", "/v1/completions", json=body) as response:
                events = []
                async for line in response.aiter_lines():
                    if line.startswith("data: "):
                        events.append(line.removeprefix("data: "))
                        if len(events) == 2:
                            os.kill(pid, signal.SIGKILL)
            assert events[-1] == "[DONE]"
            error = json.loads(events[-2])["error"]
            assert error["code"] == 500 and "engine process died" in error["message"]
            assert (await client.get("/health")).status_code == 503
            late = await client.post("/v1/completions", json={**BODY, "max_tokens": 2})
            assert late.status_code == 503 and "not running" in late.json()["error"]["message"]
