"""Bad input gets an OpenAI-style 400/404 from the HF server, and the server keeps serving."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.fixtures.procs import ServerProcess

pytestmark = pytest.mark.slow

MODEL = "SmolLM2-135M-Instruct"
CHAT = [{"role": "user", "content": "Hi"}]

COMPLETION_CASES: list[tuple[str, Any, int, str]] = [
    ("malformed JSON", b'{"prompt": "x", ', 400, "not valid JSON"),
    ("missing prompt", {"model": MODEL, "max_tokens": 3}, 400, "prompt"),
    ("max_tokens of the wrong type", {"prompt": "x", "max_tokens": "many"}, 400, "max_tokens"),
    ("temperature of the wrong type", {"prompt": "x", "temperature": "hot"}, 400, "temperature"),
    ("unknown model", {"model": "gpt-9", "prompt": "x"}, 404, "does not exist"),
    ("negative max_tokens", {"prompt": "x", "max_tokens": -5}, 400, "max_tokens"),
    ("zero max_tokens", {"prompt": "x", "max_tokens": 0}, 400, "max_tokens"),
    ("huge max_tokens", {"prompt": "x", "max_tokens": 10**9}, 400, "maximum context length"),
    (
        "prompt longer than the context",
        {"prompt": [28] * 8200, "max_tokens": 1},
        400,
        "maximum context length",
    ),
    (
        "prompt over the default context of the launch configuration (2048)",
        {"prompt": [28] * 3000, "max_tokens": 1},
        400,
        "maximum context length is 2048",
    ),
    ("n above --max-n", {"prompt": "x", "n": 17, "temperature": 1}, 400, "n must be at most 16, got 17"),
    ("n of zero", {"prompt": "x", "n": 0}, 400, "n must be at least 1, got 0"),
    ("n above one with greedy sampling", {"prompt": "x", "n": 2, "temperature": 0}, 400, "greedy"),
    ("huge temperature", {"prompt": "x", "temperature": 1e9}, 400, "temperature must be in [0, 2]"),
    ("presence penalty out of range", {"prompt": "x", "presence_penalty": 3}, 400, "in [-2, 2], got 3"),
    ("frequency penalty out of range", {"prompt": "x", "frequency_penalty": -2.5}, 400, "in [-2, 2]"),
    ("repetition penalty of zero", {"prompt": "x", "repetition_penalty": 0}, 400, "greater than zero"),
    ("empty stop string", {"prompt": "x", "stop": ["a", ""]}, 400, "stop cannot contain an empty string"),
    ("negative min_tokens", {"prompt": "x", "min_tokens": -1}, 400, "greater than or equal to 0"),
    ("logprobs", {"prompt": "x", "logprobs": 2}, 400, "logprobs"),
    ("presence penalty", {"prompt": "x", "presence_penalty": 0.5}, 400, "presence_penalty"),
    ("echo", {"prompt": "x", "echo": True}, 400, "echo"),
    ("negative temperature", {"prompt": "x", "temperature": -1}, 400, "temperature"),
    ("top_p of zero", {"prompt": "x", "top_p": 0}, 400, "top_p"),
    ("negative top_k", {"prompt": "x", "top_k": -3}, 400, "top_k"),
    ("min_tokens above max_tokens", {"prompt": "x", "max_tokens": 2, "min_tokens": 5}, 400, "min_tokens"),
    ("several prompts", {"prompt": ["a", "b"]}, 400, "one prompt"),
    ("empty prompt", {"prompt": ""}, 400, "empty"),
    ("token id outside the vocabulary", {"prompt": [1, 10**7]}, 400, "vocabulary"),
    (
        "stream_options without stream",
        {"prompt": "x", "stream_options": {"include_usage": True}},
        400,
        "stream_options",
    ),
]

CHAT_CASES: list[tuple[str, Any, int, str]] = [
    ("missing messages", {"model": MODEL}, 400, "messages"),
    ("empty messages", {"messages": []}, 400, "messages"),
    ("messages of the wrong type", {"messages": "hello"}, 400, "messages"),
    ("unknown role", {"messages": [{"role": "wizard", "content": "x"}]}, 400, "role"),
    ("tools", {"messages": CHAT, "tools": [{"type": "function", "function": {"name": "f"}}]}, 400, "tools"),
    ("huge max_completion_tokens", {"messages": CHAT, "max_completion_tokens": 10**9}, 400, "context length"),
    ("unknown model", {"model": "nope", "messages": CHAT}, 404, "does not exist"),
]


def _post(server: ServerProcess, path: str, body: Any) -> httpx.Response:
    if isinstance(body, bytes):
        return httpx.post(
            server.base_url + path, content=body, headers={"content-type": "application/json"}, timeout=60
        )
    return httpx.post(server.base_url + path, json=body, timeout=60)


def _assert_openai_error(response: httpx.Response, status: int, fragment: str) -> None:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == status
    assert isinstance(error["type"], str) and error["type"]
    assert fragment.lower() in (error["message"] + " " + str(error.get("param"))).lower()


@pytest.mark.parametrize(
    ("case", "body", "status", "fragment"), COMPLETION_CASES, ids=[c[0] for c in COMPLETION_CASES]
)
def test_bad_completion_request_gets_an_openai_error(
    hf_server: ServerProcess, case: str, body: Any, status: int, fragment: str
) -> None:
    _assert_openai_error(_post(hf_server, "/v1/completions", body), status, fragment)


@pytest.mark.parametrize(("case", "body", "status", "fragment"), CHAT_CASES, ids=[c[0] for c in CHAT_CASES])
def test_bad_chat_request_gets_an_openai_error(
    hf_server: ServerProcess, case: str, body: Any, status: int, fragment: str
) -> None:
    _assert_openai_error(_post(hf_server, "/v1/chat/completions", body), status, fragment)


def test_unknown_route_gets_an_openai_404(hf_server: ServerProcess) -> None:
    _assert_openai_error(httpx.get(hf_server.base_url + "/v1/engines", timeout=10), 404, "not found")


def test_server_keeps_serving_after_bad_input(hf_server: ServerProcess) -> None:
    for _, body, _, _ in COMPLETION_CASES[:5]:
        _post(hf_server, "/v1/completions", body)
    response = _post(hf_server, "/v1/completions", {"prompt": "Hello", "max_tokens": 2, "temperature": 0})
    assert response.status_code == 200
    assert response.json()["usage"]["completion_tokens"] == 2
