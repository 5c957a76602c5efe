"""Naive batching, overload, disconnects and the API key, on a small-knob HF server.

The server (`hf_server_small`) has random weights, batches of at most 3 held open up to 1 s, a queue
of 3 and an API key. Every request sets `ignore_eos`, so output lengths are exact.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from collections.abc import AsyncIterator

import httpx
import pytest

from tests.fixtures.hf import HF_SMALL_API_KEY
from tests.fixtures.procs import ServerProcess

pytestmark = pytest.mark.slow

AUTH = {"Authorization": f"Bearer {HF_SMALL_API_KEY}"}
BATCH_HEADER = "x-hf-server-batch-id"


def _body(max_tokens: int, stream: bool = False) -> dict[str, object]:
    return {
        "prompt": "Tell me a story",
        "max_tokens": max_tokens,
        "ignore_eos": True,
        "temperature": 0,
        "stream": stream,
    }


async def _config(client: httpx.AsyncClient) -> dict[str, int]:
    return (await client.get("/config")).json()  # type: ignore[no-any-return]


async def _metric(client: httpx.AsyncClient, name: str, labels: str = "") -> float:
    text = (await client.get("/metrics")).text
    pattern = re.compile(rf"^{re.escape(name)}{{[^}}]*{re.escape(labels)}[^}}]*}} (\S+)$", re.MULTILINE)
    return sum(float(v) for v in pattern.findall(text))


async def _data_lines(response: httpx.Response) -> AsyncIterator[str]:
    async for line in response.aiter_lines():
        if line.startswith("data: "):
            yield line.removeprefix("data: ")


@pytest.fixture
async def client(hf_server_small: ServerProcess) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=hf_server_small.base_url, headers=AUTH, timeout=120) as c:
        yield c


async def _wait_idle(client: httpx.AsyncClient) -> None:
    for _ in range(600):
        config = await _config(client)
        if config["requests_running"] == 0 and config["requests_waiting"] == 0:
            return
        await asyncio.sleep(0.1)
    raise AssertionError("the server did not become idle")


async def test_requests_arriving_together_share_one_generate_call(client: httpx.AsyncClient) -> None:
    await _wait_idle(client)
    before = (await _config(client))["batches_started"]
    responses = await asyncio.gather(*(client.post("/v1/completions", json=_body(4)) for _ in range(3)))
    assert [r.status_code for r in responses] == [200, 200, 200]
    assert len({r.headers[BATCH_HEADER] for r in responses}) == 1
    assert (await _config(client))["batches_started"] == before + 1
    assert all(r.json()["usage"]["completion_tokens"] == 4 for r in responses)


async def test_a_late_request_waits_for_the_next_batch(client: httpx.AsyncClient) -> None:
    await _wait_idle(client)
    before = (await _config(client))["batches_started"]
    order: list[str] = []
    async with client.stream("POST", "/v1/completions", json=_body(24, stream=True)) as first:
        lines = _data_lines(first)
        await anext(lines)  # the first batch is running
        late = asyncio.ensure_future(client.post("/v1/completions", json=_body(2)))
        async for data in lines:
            if data == "[DONE]":
                order.append("first done")
        late_response = await late
        order.append("late done")
    assert order == ["first done", "late done"]
    assert late_response.status_code == 200
    assert late_response.headers[BATCH_HEADER] == str(before + 2)


async def test_overload_beyond_the_queue_gets_503(client: httpx.AsyncClient) -> None:
    await _wait_idle(client)
    async with contextlib.AsyncExitStack() as stack:
        # Three long streams fill the running batch (they are aborted when the stack closes them).
        running = [
            await stack.enter_async_context(
                client.stream("POST", "/v1/completions", json=_body(2000, stream=True))
            )
            for _ in range(3)
        ]
        # Keep the line iterators referenced: a dropped one is finalized, which closes its stream,
        # and the server then (rightly) aborts that row and ends the batch early.
        lines = [_data_lines(response) for response in running]
        for line_iter in lines:
            await anext(line_iter)
        assert (await _config(client))["requests_running"] == 3
        waiting = [asyncio.ensure_future(client.post("/v1/completions", json=_body(1))) for _ in range(3)]
        for _ in range(600):
            if (await _config(client))["requests_waiting"] == 3:
                break
            await asyncio.sleep(0.1)
        else:
            raise AssertionError("the three waiting requests never filled the queue")
        rejected = await client.post("/v1/completions", json=_body(1))
        assert rejected.status_code == 503
        error = rejected.json()["error"]
        assert error["code"] == 503 and "overloaded" in error["message"]
    # Closing the running streams aborts their rows; the queued requests then get served.
    assert [(await w).status_code for w in waiting] == [200, 200, 200]


async def test_disconnect_mid_stream_leaves_other_rows_intact(client: httpx.AsyncClient) -> None:
    await _wait_idle(client)
    aborted_before = await _metric(client, "vllm:request_success_total", 'finished_reason="abort"')
    async with (
        client.stream("POST", "/v1/completions", json=_body(300, stream=True)) as leaver,
        client.stream("POST", "/v1/completions", json=_body(12, stream=True)) as stayer,
    ):
        leaver_lines = _data_lines(leaver)
        await anext(leaver_lines)
        await anext(leaver_lines)
        await leaver.aclose()
        chunks = [data async for data in _data_lines(stayer)]
    assert chunks[-1] == "[DONE]"
    finishes = [json.loads(c)["choices"][0]["finish_reason"] for c in chunks[:-1]]
    assert finishes[-1] == "length"
    await _wait_idle(client)
    assert (
        await _metric(client, "vllm:request_success_total", 'finished_reason="abort"') == aborted_before + 1
    )


async def test_a_lone_disconnected_row_stops_its_batch(client: httpx.AsyncClient) -> None:
    await _wait_idle(client)
    tokens_before = await _metric(client, "vllm:generation_tokens_total")
    async with client.stream("POST", "/v1/completions", json=_body(2000, stream=True)) as leaver:
        await anext(_data_lines(leaver))
    await _wait_idle(client)
    assert await _metric(client, "vllm:generation_tokens_total") - tokens_before < 2000
    response = await client.post("/v1/completions", json=_body(3))
    assert response.status_code == 200


async def test_requests_without_the_api_key_get_401(hf_server_small: ServerProcess) -> None:
    async with httpx.AsyncClient(base_url=hf_server_small.base_url, timeout=30) as anonymous:
        for path in ("/v1/completions", "/v1/chat/completions"):
            response = await anonymous.post(path, json=_body(1))
            assert response.status_code == 401
            assert response.json()["error"]["code"] == 401
        wrong = await anonymous.get("/v1/models", headers={"Authorization": "Bearer wrong"})
        assert wrong.status_code == 401
        assert (await anonymous.get("/health")).status_code == 200
