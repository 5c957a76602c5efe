"""Faults: out-of-memory in the middle of a batch, and graceful shutdown with a stream in flight."""

from __future__ import annotations

import asyncio
import json
import os
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import torch

from servers.hf.app import create_app
from servers.hf.loading import LoadedModel
from servers.hf.settings import BatchingSettings, ServerSettings
from tests.fixtures.hf import HFFactory

pytestmark = pytest.mark.slow

MODEL = "SmolLM2-135M-Instruct"


def _fail_on_call(forward: Callable[..., Any], failing_call: int) -> Callable[..., Any]:
    calls = {"n": 0}

    def flaky(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == failing_call:
            raise torch.OutOfMemoryError(
                "CUDA out of memory. Tried to allocate 20.00 GiB (injected by the test)"
            )
        return forward(*args, **kwargs)

    return flaky


async def test_out_of_memory_fails_the_batch_and_the_server_recovers(
    hf_loaded: LoadedModel, smollm2_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    loaded = hf_loaded
    settings = ServerSettings(
        model_dir=smollm2_dir,
        served_model_name=MODEL,
        batching=BatchingSettings(max_batch_size=2, max_wait_ms=2000, max_queue=4),
    )
    app = create_app(settings, loaded)
    monkeypatch.setattr(loaded.model, "forward", _fail_on_call(loaded.model.forward, failing_call=4))
    body = {"model": MODEL, "prompt": "Hello there", "max_tokens": 8, "ignore_eos": True, "temperature": 0}
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://hf", timeout=120) as client,
    ):
        streamed, whole = await asyncio.gather(
            client.post("/v1/completions", json={**body, "stream": True}),
            client.post("/v1/completions", json=body),
        )
        assert whole.status_code == 503
        assert "out of memory" in whole.json()["error"]["message"]
        events = [
            line.removeprefix("data: ") for line in streamed.text.splitlines() if line.startswith("data: ")
        ]
        assert events[-1] == "[DONE]"
        texts = [json.loads(e) for e in events[:-1]]
        assert any(e.get("choices") and e["choices"][0]["text"] for e in texts), "tokens before the failure"
        assert texts[-1]["error"]["code"] == 503
        recovered = await client.post("/v1/completions", json=body)
        assert recovered.status_code == 200
        assert recovered.json()["usage"]["completion_tokens"] == 8
        config = (await client.get("/config")).json()
        assert config["batches_failed"] == 1 and config["batches_started"] == 2


def test_sigterm_lets_an_in_flight_stream_finish(hf_server_factory: HFFactory) -> None:
    with hf_server_factory("--random-weights", "--max-wait-ms", "0", "--shutdown-timeout", "120") as server:
        body = {"prompt": "Go on", "max_tokens": 12, "ignore_eos": True, "temperature": 0, "stream": True}
        with httpx.stream("POST", server.base_url + "/v1/completions", json=body, timeout=120) as response:
            lines = response.iter_lines()
            first = next(line for line in lines if line.startswith("data: "))
            os.killpg(server.process.pid, signal.SIGTERM)
            rest = [line.removeprefix("data: ") for line in lines if line.startswith("data: ")]
        assert rest[-1] == "[DONE]"
        chunks = [json.loads(first.removeprefix("data: ")), *(json.loads(r) for r in rest[:-1])]
        assert chunks[-1]["choices"][0]["finish_reason"] == "length"
        # uvicorn re-raises the signal once shutdown is complete, so the exit status is -SIGTERM.
        assert server.process.wait(timeout=60) in (0, -signal.SIGTERM)
        assert "Application shutdown complete" in server.log_tail()
        with pytest.raises(httpx.ConnectError):
            httpx.get(server.base_url + "/health", timeout=5)
