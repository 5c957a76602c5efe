"""Parallel sampling (`n > 1`) on the HF server: n rows of one batch, streamed with their `index`."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from typing import Any

import httpx
import pytest

from tests.fixtures.hf import HFFactory
from tests.fixtures.procs import ServerProcess

pytestmark = pytest.mark.slow

CHAT = [{"role": "user", "content": "Name a colour."}]


def _stream(server: ServerProcess, path: str, body: dict[str, Any]) -> list[dict[str, Any]]:
    """The JSON chunks of a streamed response (the `[DONE]` line checked and dropped)."""
    body = {**body, "stream": True, "stream_options": {"include_usage": True}}
    with httpx.stream("POST", server.base_url + path, json=body, timeout=120) as response:
        assert response.status_code == 200, response.read()
        lines = [line.removeprefix("data: ") for line in response.iter_lines() if line.startswith("data: ")]
    assert lines[-1] == "[DONE]"
    return [json.loads(line) for line in lines[:-1]]


def _check_choices_stream(chunks: list[dict[str, Any]], n: int, max_tokens: int) -> dict[int, str]:
    """Every choice streams under its own index and finishes once; usage counts all of them."""
    finishes: dict[int, list[str]] = defaultdict(list)
    texts: dict[int, str] = defaultdict(str)
    for chunk in chunks[:-1]:
        (choice,) = chunk["choices"]
        index = choice["index"]
        assert index not in finishes, f"choice {index} sent a chunk after its finish"
        texts[index] += choice.get("text") or (choice.get("delta") or {}).get("content") or ""
        if choice["finish_reason"] is not None:
            finishes[index].append(choice["finish_reason"])
    assert sorted(finishes) == list(range(n))
    assert all(reasons == ["length"] for reasons in finishes.values())
    usage = chunks[-1]["usage"]
    assert chunks[-1]["choices"] == []
    assert usage["completion_tokens"] == n * max_tokens
    assert usage["total_tokens"] == usage["prompt_tokens"] + n * max_tokens
    return dict(texts)


def test_streamed_completion_with_n_3(hf_server: ServerProcess) -> None:
    body = {"prompt": "Once upon a time", "max_tokens": 6, "n": 3, "temperature": 1.0, "seed": 7}
    chunks = _stream(hf_server, "/v1/completions", {**body, "ignore_eos": True})
    texts = _check_choices_stream(chunks, 3, 6)
    assert len(set(texts.values())) > 1, "the choices are drawn with different seeds"


def test_streamed_chat_with_n_2_opens_every_choice_with_its_role(hf_server: ServerProcess) -> None:
    body = {"messages": CHAT, "max_tokens": 5, "n": 2, "temperature": 0.8, "ignore_eos": True}
    chunks = _stream(hf_server, "/v1/chat/completions", body)
    roles = [c["choices"][0] for c in chunks[:2]]
    assert [(r["index"], r["delta"]) for r in roles] == [(0, {"role": "assistant", "content": ""})] + [
        (1, {"role": "assistant", "content": ""})
    ]
    assert not any("role" in c["choices"][0]["delta"] for c in chunks[2:-1])
    _check_choices_stream(chunks, 2, 5)


@pytest.mark.parametrize(
    ("path", "extra"),
    [("/v1/completions", {"prompt": "The sky is"}), ("/v1/chat/completions", {"messages": CHAT})],
)
def test_whole_response_with_n_3(hf_server: ServerProcess, path: str, extra: dict[str, Any]) -> None:
    body = {**extra, "max_tokens": 4, "n": 3, "temperature": 1.0, "seed": 11, "ignore_eos": True}
    response = httpx.post(hf_server.base_url + path, json=body, timeout=120)
    assert response.status_code == 200, response.text
    payload = response.json()
    assert [c["index"] for c in payload["choices"]] == [0, 1, 2]
    assert Counter(c["finish_reason"] for c in payload["choices"]) == {"length": 3}
    assert payload["usage"]["completion_tokens"] == 12


def test_choice_i_samples_with_seed_plus_i(hf_server: ServerProcess) -> None:
    """As vLLM: choice i of a seeded request is the seed + i request of one choice."""
    body = {"prompt": "My favourite food is", "max_tokens": 8, "temperature": 1.0, "ignore_eos": True}
    url = hf_server.base_url + "/v1/completions"
    parallel = httpx.post(url, json={**body, "n": 2, "seed": 40}, timeout=120).json()
    second = httpx.post(url, json={**body, "seed": 41}, timeout=120).json()
    assert parallel["choices"][1]["text"] == second["choices"][0]["text"]


def test_choices_stop_on_their_own(hf_server: ServerProcess) -> None:
    """Each choice has its own finish: one may stop at a stop token while another runs to length."""
    body = {"prompt": "1, 2, 3,", "max_tokens": 12, "n": 4, "temperature": 1.5, "seed": 3, "stop": [","]}
    payload = httpx.post(hf_server.base_url + "/v1/completions", json=body, timeout=120).json()
    choices = payload["choices"]
    assert [c["index"] for c in choices] == [0, 1, 2, 3]
    assert all(c["finish_reason"] in ("stop", "length") for c in choices)
    assert all("," not in c["text"] for c in choices)


def test_n_2_through_the_engine_process(hf_server_factory: HFFactory) -> None:
    with hf_server_factory("--engine", "process", "--max-batch-size", "4") as server:
        body = {"prompt": "Hello", "max_tokens": 5, "n": 2, "temperature": 1.0, "ignore_eos": True}
        _check_choices_stream(_stream(server, "/v1/completions", body), 2, 5)
        whole = httpx.post(server.base_url + "/v1/completions", json={**body, "n": 3}, timeout=120).json()
        assert whole["usage"]["completion_tokens"] == 15
        batches = httpx.get(server.base_url + "/batches", timeout=10).json()["batches"]
        assert [b["rows"] for b in batches][-2:] == [2, 3], "a request's choices share one generate call"
